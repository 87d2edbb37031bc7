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

    /// <summary>How long the JIT must have compiled nothing for the warmup to end.</summary>
    private static readonly TimeSpan JitQuiet = TimeSpan.FromSeconds(1);

    /// <summary>The longest the warmup waits past <see cref="Warmup"/> for the JIT to go quiet.</summary>
    private static readonly TimeSpan JitSettleLimit = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Waits out the warmup: <see cref="Warmup"/>, then until this process's JIT has compiled no method for a second
    /// (at most 30 s more). The runtime recompiles hot methods in bursts, seconds after they first run (after a fixed
    /// 5 s, the workers of the Redis operations scenario spent 28% of the machine's time in the JIT while measured),
    /// and a burst measured is the JIT's cost, not the library's.
    /// </summary>
    /// <returns>How long the warmup took.</returns>
    public async Task<TimeSpan> WarmUpAsync()
    {
        var clock = Stopwatch.StartNew();
        await Task.Delay(this.Warmup);
        long compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
        var quiet = Stopwatch.StartNew();
        while (quiet.Elapsed < JitQuiet && clock.Elapsed < this.Warmup + JitSettleLimit)
        {
            await Task.Delay(100);
            long now = System.Runtime.JitInfo.GetCompiledMethodCount();
            if (now != compiled)
            {
                compiled = now;
                quiet.Restart();
            }
        }

        return clock.Elapsed;
    }

    /// <summary>Runs <paramref name="step"/> repeatedly through the warmup (<see cref="WarmUpAsync"/>), then through the measurement.</summary>
    /// <returns>The measured seconds.</returns>
    public async Task<double> RunAsync(Func<bool, Task> step)
    {
        var warm = this.WarmUpAsync();
        while (!warm.IsCompleted)
        {
            await step(false);
        }

        var clock = Stopwatch.StartNew();
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
