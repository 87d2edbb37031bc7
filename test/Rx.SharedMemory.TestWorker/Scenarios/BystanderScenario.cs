using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// bystander KEY [WARMUP]: increments KEY, one call at a time, until KEY + "/stop" is set. Each time KEY + "/mark" is
/// set to a name, records a window of the calls since the mark before (the first WARMUP calls left out), their
/// slowest and their 99th percentile, and starts a new window; at the stop, reports the windows and the whole run.
/// </summary>
internal sealed class BystanderScenario : Scenario<BystanderScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var key = arguments[0];
        int warmup = arguments.Count > 1 ? arguments.Int(1) : 0;
        var stop = store.Observe(key + "/stop").FirstAsync(c => c.HasValue).ToTask(timeout);
        var gate = new Lock();
        var took = new List<long>(); // guarded by gate: each call's time since the last mark, in ticks
        var windows = new List<Window>(); // guarded by gate: the marks' observer adds, the end reads
        using var marks = store.Observe(key + "/mark").Where(c => c.Kind == KeyChangeKind.Set).Subscribe(change =>
        {
            lock (gate)
            {
                windows.Add(Close(change.GetValue<string>()!, took));
                took.Clear();
            }
        });
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        long made = 0;
        var clock = Stopwatch.StartNew();
        while (!stop.IsCompleted)
        {
            var started = clock.Elapsed;
            await store.IncrementAsync(key, 1, timeout);
            long ticks = (clock.Elapsed - started).Ticks;
            if (++made > warmup)
            {
                lock (gate)
                {
                    took.Add(ticks);
                }
            }
        }

        await stop;
        lock (gate)
        {
            return new Report([.. windows], made, Close(string.Empty, took).SlowestMs);
        }
    }

    private static Window Close(string name, List<long> took)
    {
        if (took.Count == 0)
        {
            return new Window(name, 0, 0, 0);
        }

        var sorted = took.Order().ToArray();
        return new Window(name, sorted.Length, TimeSpan.FromTicks(sorted[^1]).TotalMilliseconds, TimeSpan.FromTicks(sorted[(int)(sorted.Length * 0.99)]).TotalMilliseconds);
    }

    /// <param name="Name">The mark that closed the window.</param>
    /// <param name="Calls">The calls made in it (after the warm-up).</param>
    /// <param name="SlowestMs">The slowest of them, in milliseconds.</param>
    /// <param name="P99Ms">Their 99th percentile, in milliseconds: unlike the slowest, not one pause of the machine's.</param>
    internal sealed record Window(string Name, long Calls, double SlowestMs, double P99Ms);

    /// <param name="Windows">Every window, in the order of the marks.</param>
    /// <param name="Calls">Every call made, the warm-up included.</param>
    /// <param name="SlowestMs">The slowest call since the last mark, in milliseconds.</param>
    internal sealed record Report(Window[] Windows, long Calls, double SlowestMs);
}
