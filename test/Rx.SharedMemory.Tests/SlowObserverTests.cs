using System.Text.Json;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A worker whose observer is slower than the writer: the worker reads its pipe on, and what waits for the observer is
/// bounded and conflated as in the master. The master's own queue is left at its default, far above what is written,
/// so that the worker is the one place changes can pile up.
/// </summary>
[Collection(nameof(Measurements))]
public sealed class SlowObserverTests(ITestOutputHelper output) : WorkerProcessTestBase
{
    [Fact]
    public async Task SlowObserverInAWorker_KeepsTheWorkersMemoryBounded_AndEndsWithTheLatestOfEveryKey_WithExactSkipCounts()
    {
        const int Keys = 10;
        const int Writes = 5_000;
        const int QueueMaxBytes = 1024 * 1024;
        var value = new string('x', 4096);
        var commits = new List<KeyChange>();
        using var recording = this.Master.ObserveChanges().Subscribe(c =>
        {
            lock (commits)
            {
                commits.Add(c);
            }
        });

        // Its observer takes 2 ms a change: 5,000 changes would take it 10 s.
        var subscriber = await this.SpawnReadyAsync("slow-observer", "slow/", "100", QueueMaxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), "2");
        long first = this.Master.Version + 1;
        for (int i = 0; i < Writes; i++)
        {
            await this.Master.Store.SetAsync($"slow/k{i % Keys}", $"{i}{value}", this.TimeoutToken);
        }

        await this.Master.Store.SetAsync("slow/end", true, this.TimeoutToken);
        var report = await this.ReportAfterExitAsync<SlowObserverScenario.Report>(subscriber);

        KeyChange[] record;
        lock (commits)
        {
            record = [.. commits.Where(c => c.Version >= first)];
        }

        long growth = report.HeapGrowth;
        var checker = new CommitRecordChecker(record, conflation: true, valuePrefix: 24);
        checker.Check(report.Subscription);
        int delivered = report.Subscription.Changes.Count;
        output.WriteLine($"worker heap growth {growth / 1024} KiB; {delivered} changes delivered for {Writes + 1} commits, {checker.SkippedChecked} skipped");

        // What waits for the observer is at most 1 MiB of values plus the latest of each key. Around it: the frame being
        // read and parsed (up to 256 changes, 1 MiB of values, held twice while it is turned into changes) and the
        // pipe's and the pools' buffers, which do not grow with the number of changes. Measured: about 10 MiB; without
        // the bound, the 5,000 changes of 4 KiB piled up in the worker: 50 MiB.
        Assert.True(growth < 16 * 1024 * 1024, $"the worker's heap grew by {growth} bytes");
        Assert.True(checker.SkippedChecked > 0, "nothing conflated: the observer was not slow");
        Assert.Equal(Writes + 1, delivered - 1 + checker.SkippedChecked);
    }
}
