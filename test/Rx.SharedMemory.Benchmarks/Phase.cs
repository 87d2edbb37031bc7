using System.Diagnostics;

namespace Rx.SharedMemory.Benchmarks;

/// <summary>How long to warm up, then how long to measure.</summary>
internal readonly record struct Phase(TimeSpan Warmup, TimeSpan Measure)
{
    public string[] ToArguments() =>
    [
        this.Warmup.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        this.Measure.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
    ];

    public static Phase FromArguments(string warmup, string measure) => new(
        TimeSpan.FromSeconds(double.Parse(warmup, System.Globalization.CultureInfo.InvariantCulture)),
        TimeSpan.FromSeconds(double.Parse(measure, System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Runs <paramref name="step"/> repeatedly through the warmup, then through the measurement.</summary>
    /// <returns>The measured seconds.</returns>
    public async Task<double> RunAsync(Func<bool, Task> step)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < this.Warmup)
        {
            await step(false);
        }

        clock.Restart();
        while (clock.Elapsed < this.Measure)
        {
            await step(true);
        }

        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Calls <paramref name="call"/> one at a time through the warmup, then through the measurement.</summary>
    /// <returns>The microseconds each measured call took.</returns>
    public async Task<List<double>> SampleAsync(Func<Task> call)
    {
        var samples = new List<double>();
        await this.RunAsync(async measured =>
        {
            long start = Stopwatch.GetTimestamp();
            await call();
            if (measured)
            {
                samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            }
        });
        return samples;
    }
}
