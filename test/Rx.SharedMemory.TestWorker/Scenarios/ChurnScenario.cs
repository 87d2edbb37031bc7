using System.Diagnostics;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// churn PREFIX SECONDS KEYS VALUEBYTES: writes values of VALUEBYTES characters to PREFIX + k&lt;n&gt; for SECONDS, 16
/// writes in flight, then sets PREFIX + "done" and reports how many writes it made.
/// </summary>
internal sealed class ChurnScenario : Scenario<ChurnScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var prefix = arguments[0];
        var duration = TimeSpan.FromSeconds(arguments.Double(1));
        int keys = arguments.Int(2);
        var value = new string('x', arguments.Int(3));
        long writes = 0;
        var clock = Stopwatch.StartNew();
        var writers = Enumerable.Range(0, 16).Select(async w =>
        {
            var random = new Random(w);
            while (clock.Elapsed < duration)
            {
                await store.SetAsync($"{prefix}k{random.Next(keys)}", value, timeout);
                Interlocked.Increment(ref writes);
            }
        });
        await Task.WhenAll(writers);
        await store.SetAsync(prefix + "done", true, timeout);
        return new Report(writes, clock.Elapsed.TotalSeconds);
    }

    /// <param name="Writes">How many writes it made.</param>
    /// <param name="Seconds">How long it took, the final write included.</param>
    internal sealed record Report(long Writes, double Seconds);
}
