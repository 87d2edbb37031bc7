using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>Change streams keep their promises when subscribers fall behind, in the master and in a worker.</summary>
[Collection(nameof(Measurements))]
public sealed class StreamPromiseTests(ITestOutputHelper output) : WorkerProcessTestBase(new SharedMemoryOptions { ChangeLogCapacity = 2_000, SubscriberQueueCapacity = 4, SubscriberQueueMaxBytes = 64 * 1024 })
{
    [Fact]
    public async Task RandomSubscribersAndResumes_WithConflationInTheMasterAndInTheWorker_MatchTheMastersCommitRecord_WithExactSkipCounts()
    {
        // Each subscriber's changes wait for its observers in a queue of 8 (at most 16 KiB of values), and an observer
        // sleeps now and then: changes conflate in the worker as well as in the master.
        var (record, reports) = await this.RunChaosAsync("8", "16384", "3");

        Assert.All(record, c => Assert.Equal(0, c.SkippedVersions));
        var checker = new CommitRecordChecker(record, conflation: true);
        checker.CheckNoGap();
        int checkedSubscriptions = checker.CheckAll(reports);

        output.WriteLine($"{checkedSubscriptions} subscriptions, {checker.SnapshotsChecked} starting states, {checker.ResumesChecked} resumes, {checker.SkippedChecked} skipped commits checked");
        Assert.True(checkedSubscriptions >= 20, $"only {checkedSubscriptions} subscriptions were made");
        Assert.True(checker.ResumesChecked > 0 && checker.SnapshotsChecked > 0, $"resumes {checker.ResumesChecked}, snapshots {checker.SnapshotsChecked}");
        Assert.True(checker.SkippedChecked > 0, "nothing conflated: the test proves nothing");
    }

    [Fact]
    public async Task ObserveOfAnAbsentKey_StartsWithAResetSayingAbsent_AndAJsonNullIsAValue()
    {
        long version = await this.Master.Store.SetAsync("other", 1, this.TimeoutToken);
        var absent = await this.SpawnReadyAsync("observe-first", "maybe", "3");
        long set = await this.Master.Store.SetAsync<string?>("maybe", null, this.TimeoutToken);
        var present = await this.SpawnReadyAsync("observe-first", "maybe", "2");
        long deleted = await this.Master.Store.DeleteAsync("maybe", this.TimeoutToken) ? this.Master.Version : 0;

        Assert.Equal(
            [new(KeyChangeKind.Reset, false, version, null), new(KeyChangeKind.Set, true, set, "null"), new(KeyChangeKind.Deleted, false, deleted, null)],
            (await this.ReportAfterExitAsync<ObserveFirstScenario.Report>(absent)).Changes);
        Assert.Equal(
            [new(KeyChangeKind.Reset, true, set, "null"), new ObserveFirstScenario.Change(KeyChangeKind.Deleted, false, deleted, null)],
            (await this.ReportAfterExitAsync<ObserveFirstScenario.Report>(present)).Changes);

        // The same in the master.
        var local = await this.Master.Store.Observe("maybe").FirstAsync().ToTask(this.TimeoutToken);
        Assert.Equal((KeyChangeKind.Reset, false, false, deleted), (local.Kind, local.Exists, local.HasValue, local.Version));
    }

    [Fact]
    public async Task MasterChanges_OfAnObserverThatFallsBehind_ConflatesPerKey_AndSaysWhatItSkipped()
    {
        var (delivered, commits) = await this.WriteWhileTheObserverIsStuckAsync(this.Master.Changes);

        Assert.True(delivered.Count < commits, $"{delivered.Count} changes of {commits} were delivered: nothing conflated");
        Assert.Equal(commits, delivered.Count + delivered.Sum(c => c.SkippedVersions));
        Assert.True(delivered.Zip(delivered.Skip(1)).All(p => p.First.Version < p.Second.Version), "changes must come in version order");
        Assert.Equal(Enumerable.Range(0, 5).Select(k => $"{commits - 5 + k}"), delivered.TakeLast(5).Select(c => c.GetValue<string>()));
    }

    [Fact]
    public async Task ObserveChanges_Unbounded_DeliversEveryChangeIndividually_ToAnObserverThatFallsBehind()
    {
        var (delivered, commits) = await this.WriteWhileTheObserverIsStuckAsync(this.Master.ObserveChanges());

        Assert.Equal(commits, delivered.Count);
        Assert.All(delivered, c => Assert.Equal(0, c.SkippedVersions));
        Assert.Equal(Enumerable.Range(0, commits).Select(i => $"{i}"), delivered.Select(c => c.GetValue<string>()));
    }

    [Fact]
    public async Task ObserveChanges_WithABound_ConflatesPastIt()
    {
        var (delivered, commits) = await this.WriteWhileTheObserverIsStuckAsync(this.Master.ObserveChanges(queueCapacity: 100));

        Assert.InRange(delivered.Count, 100, 100 + 5 + 1);
        Assert.Equal(commits, delivered.Count + delivered.Sum(c => c.SkippedVersions));
        Assert.Throws<ArgumentOutOfRangeException>(() => this.Master.ObserveChanges(queueCapacity: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => this.Master.ObserveChanges(queueMaxBytes: 0));
    }

    /// <summary>Writes 1,000 changes to 5 keys while the observer is stuck in its first call, then lets it go.</summary>
    private async Task<(List<KeyChange> Delivered, int Commits)> WriteWhileTheObserverIsStuckAsync(IObservable<KeyChange> changes)
    {
        const int Commits = 1_000;
        var delivered = new List<KeyChange>();
        using var stuck = new ManualResetEventSlim();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long last = long.MaxValue;
        var token = this.TimeoutToken;
        using var subscription = changes.Where(c => c.Key.StartsWith("many/", StringComparison.Ordinal)).Subscribe(change =>
        {
            entered.TrySetResult();
            stuck.Wait(token);
            delivered.Add(change);
            if (change.Version == Volatile.Read(ref last))
            {
                all.TrySetResult();
            }
        });
        long v = 0;
        for (int i = 0; i < Commits; i++)
        {
            v = await this.Master.Store.SetAsync($"many/k{i % 5}", $"{i}", this.TimeoutToken);
            if (i == 0)
            {
                await entered.Task.WaitAsync(this.TimeoutToken);
            }
        }

        Volatile.Write(ref last, v);
        stuck.Set();
        await all.Task.WaitAsync(this.TimeoutToken);
        return (delivered, Commits);
    }
}
