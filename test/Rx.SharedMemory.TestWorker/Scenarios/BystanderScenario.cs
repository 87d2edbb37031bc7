using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// bystander KEY [WARMUP]: increments KEY, one call at a time, until KEY + "/stop" is set. Each time KEY + "/mark" is
/// set to a name, records a window of the calls since the mark before (the first WARMUP calls left out) and their
/// slowest, and starts a new window; at the stop, reports the windows and the whole run.
/// </summary>
internal sealed class BystanderScenario : Scenario<BystanderScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var key = arguments[0];
        int warmup = arguments.Count > 1 ? arguments.Int(1) : 0;
        var stop = store.Observe(key + "/stop").FirstAsync(c => c.HasValue).ToTask(timeout);
        long calls = 0;
        long slowestTicks = 0;
        var gate = new Lock();
        var windows = new List<Window>(); // guarded by gate: the marks' observer adds, the end reads
        using var marks = store.Observe(key + "/mark").Where(c => c.Kind == KeyChangeKind.Set).Subscribe(change =>
        {
            long slowest = Interlocked.Exchange(ref slowestTicks, 0);
            long counted = Interlocked.Exchange(ref calls, 0);
            lock (gate)
            {
                windows.Add(new Window(change.GetValue<string>()!, counted, TimeSpan.FromTicks(slowest).TotalMilliseconds));
            }
        });
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        long made = 0;
        var clock = Stopwatch.StartNew();
        while (!stop.IsCompleted)
        {
            var started = clock.Elapsed;
            await store.IncrementAsync(key, 1, timeout);
            long took = (clock.Elapsed - started).Ticks;
            if (++made > warmup)
            {
                Interlocked.Increment(ref calls);
                long seen;
                while (took > (seen = Interlocked.Read(ref slowestTicks)) && Interlocked.CompareExchange(ref slowestTicks, took, seen) != seen)
                {
                }
            }
        }

        await stop;
        lock (gate)
        {
            return new Report([.. windows], made, TimeSpan.FromTicks(Interlocked.Read(ref slowestTicks)).TotalMilliseconds);
        }
    }

    /// <param name="Name">The mark that closed the window.</param>
    /// <param name="Calls">The calls made in it (after the warm-up).</param>
    /// <param name="SlowestMs">The slowest of them, in milliseconds.</param>
    internal sealed record Window(string Name, long Calls, double SlowestMs);

    /// <param name="Windows">Every window, in the order of the marks.</param>
    /// <param name="Calls">Every call made, the warm-up included.</param>
    /// <param name="SlowestMs">The slowest call since the last mark, in milliseconds.</param>
    internal sealed record Report(Window[] Windows, long Calls, double SlowestMs);
}
