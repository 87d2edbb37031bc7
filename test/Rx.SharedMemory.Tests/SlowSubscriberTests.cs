using System.Reactive.Linq;
using System.Runtime.InteropServices;
using System.Text.Json;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>Tests that measure memory or time run alone: other tests' allocations and load would blur the figures.</summary>
[CollectionDefinition(nameof(Measurements), DisableParallelization = true)]
public sealed class Measurements;

/// <summary>A subscriber that stops reading its pipe (SIGSTOP) while another worker writes.</summary>
[Collection(nameof(Measurements))]
public sealed partial class SlowSubscriberTests(ITestOutputHelper output) : TestBase
{
    private ITestOutputHelper Output => output;

    [Fact]
    public async Task StoppedSubscriber_KeepsMasterMemoryBounded_DoesNotSlowOthers_AndEndsWithTheLatestValues()
    {
        await using var master = new SharedMemoryMaster(new SharedMemoryOptions { SubscriberQueueCapacity = 1_000, ChangeLogCapacity = 1_000 });
        var test = new SlowSubscriberRun(this, master);
        await test.RunAsync();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    /// <summary>One worker stopped with SIGSTOP, one running, while a third writes for three seconds.</summary>
    private sealed class SlowSubscriberRun(SlowSubscriberTests test, SharedMemoryMaster master)
    {
        private const int SigStop = 19;
        private const int SigCont = 18;

        public async Task RunAsync()
        {
            await master.Store.SetAsync("slow/done", false, test.TimeoutToken);
            var ready = master.Changes.Where(c => c.Key.StartsWith("ready/", StringComparison.Ordinal)).Replay();
            using var readiness = ready.Connect();
            var stopped = await this.SpawnAsync("latest", "slow/");
            var running = await this.SpawnAsync("latest", "slow/");
            await test.FirstAsync(ready, c => c.Key == $"ready/{stopped.Worker.Id}");
            await test.FirstAsync(ready, c => c.Key == $"ready/{running.Worker.Id}");

            Assert.Equal(0, kill(stopped.Worker.Process.Id, SigStop));
            try
            {
                long before = GC.GetTotalMemory(forceFullCollection: true);
                var writer = await this.SpawnAsync("churn", "slow/", "3", "200", "1000");
                var writerReport = await test.ReportAfterExitAsync<ChurnScenario.Report>(writer);

                // The running subscriber finished, with the latest of every key, while the other one was stopped.
                var runningLatest = await test.ReportAfterExitAsync<LatestScenario.Report>(running);
                long growth = GC.GetTotalMemory(forceFullCollection: true) - before;
                long writes = writerReport.Writes;

                test.Output.WriteLine($"{writes} writes in 3 s while one subscriber was stopped; master managed memory grew by {growth / 1024} KiB");

                // Unbounded, the stopped worker's queue would hold every write: about 1 KB each, 50-80 MB at the rate
                // batching allows here. Bounded: its queue (1,000 changes plus one per key, 1 KB each), the change log
                // (1,000 changes), the connection's 256 KiB write buffer, and what the array pools keep of the
                // writer's batch messages (up to 256 KiB each): 8-13 MB measured over 17,000-80,000 writes.
                Assert.True(growth < 16L * 1024 * 1024, $"master managed memory grew by {growth / 1024} KiB over {writes} writes");
                Assert.True(writes >= 5_000, $"the writer made only {writes} writes in 3 s");
                await this.AssertLatestAsync(runningLatest);
            }
            finally
            {
                kill(stopped.Worker.Process.Id, SigCont);
            }

            var stoppedLatest = await test.ReportAfterExitAsync<LatestScenario.Report>(stopped);
            await this.AssertLatestAsync(stoppedLatest);
            long skipped = stoppedLatest.Skipped;
            test.Output.WriteLine($"after SIGCONT the stopped subscriber was told it skipped {skipped} versions");
            Assert.True(skipped > 0, "the stopped subscriber must be told that it skipped versions");
        }

        private async Task<(IWorker Worker, string Report)> SpawnAsync(string scenario, params string[] arguments)
        {
            var report = Path.Combine(Path.GetTempPath(), $"rxsm-slow-{Guid.NewGuid():N}.txt");
            var worker = await master.SpawnWorkerAsync(
                WorkerStartInfo.ForAssembly(Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"), [scenario, report, .. arguments]),
                test.TimeoutToken);
            return (worker, report);
        }

        private async Task AssertLatestAsync(LatestScenario.Report report)
        {
            var latest = report.Keys;
            Assert.True(latest.Count > 100, $"only {latest.Count} keys seen");
            foreach (var (key, seen) in latest)
            {
                var entry = await master.Store.GetEntryAsync<JsonElement>(key, test.TimeoutToken);
                Assert.NotNull(entry);
                Assert.Equal(new LatestScenario.Latest(entry.Version, entry.Value.GetRawText()), seen);
            }
        }
    }
}
