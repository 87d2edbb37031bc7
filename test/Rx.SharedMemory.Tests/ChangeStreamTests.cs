using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using System.Text.Json;

namespace Rx.SharedMemory.Tests;

/// <summary>Change streams across real worker processes: resume, reset, snapshot under load, random churn, slow subscribers.</summary>
public abstract class ChangeStreamTests(TestEngine engine) : WorkerProcessTestBase(engine, new SharedMemoryOptions { ChangeLogCapacity = 2_000, SubscriberQueueCapacity = 1_000_000 })
{
    [Fact]
    public async Task Subscriber_ThatLeftAfterVersionV_AndResumesFromV_SeesExactlyWhatItMissed_ThenLive()
    {
        await this.Master.Store.SetAsync("k", 0L, this.TimeoutToken);
        var commits = this.RecordCommits("k");
        using var recording = commits.Connect();
        var first = await this.SpawnReadyAsync("watch", "k", "5");
        for (long i = 1; i <= 5; i++)
        {
            await this.Master.Store.SetAsync("k", i, this.TimeoutToken);
        }

        var firstLines = (await this.ReportAfterExitAsync<WatchScenario.Report>(first)).Changes;
        long leftAt = firstLines[^1].Version;
        for (long i = 6; i <= 10; i++)
        {
            await this.Master.Store.SetAsync("k", i, this.TimeoutToken);
        }

        var resumed = await this.SpawnReadyAsync("watch", "k", "15", leftAt.ToString());
        for (long i = 11; i <= 15; i++)
        {
            await this.Master.Store.SetAsync("k", i, this.TimeoutToken);
        }

        var resumedLines = (await this.ReportAfterExitAsync<WatchScenario.Report>(resumed)).Changes;
        var expected = (await commits.Take(15).ToArray().ToTask(this.TimeoutToken)).Where(c => c.Version > leftAt).ToArray();
        Assert.Equal(expected.Select(c => (KeyChangeKind.Set, c.Version, c.GetValue<long>())), resumedLines.Select(c => (c.Kind, c.Version, c.Value!.Value)));
        Assert.Equal(Enumerable.Range(6, 10).Select(i => (long)i), resumedLines.Select(c => c.Value!.Value));
    }

    [Fact]
    public async Task ResumeFromBeforeTheChangeLog_GetsAResetWithTheCurrentValue_ThenLiveChanges()
    {
        long old = await this.Master.Store.SetAsync("k", 0L, this.TimeoutToken);
        long current = old;
        for (long i = 1; i <= 3_000; i++)
        {
            current = await this.Master.Store.SetAsync("k", i, this.TimeoutToken);
        }

        var resumed = await this.SpawnReadyAsync("watch", "k", "3001", old.ToString());
        long live = await this.Master.Store.SetAsync("k", 3_001L, this.TimeoutToken);
        var lines = (await this.ReportAfterExitAsync<WatchScenario.Report>(resumed)).Changes;

        Assert.Equal(2, lines.Length);
        Assert.Equal((KeyChangeKind.Reset, current, 3_000L), (lines[0].Kind, lines[0].Version, lines[0].Value!.Value));
        Assert.Equal((KeyChangeKind.Set, live, 3_001L), (lines[1].Kind, lines[1].Version, lines[1].Value!.Value));
    }

    [Fact]
    public async Task SnapshotThenChanges_TakenWhileAnotherWorkerWrites10000Times_IsGapFree_AndEndsWithTheFinalValue()
    {
        const int Writes = 10_000;
        await this.Master.Store.SetAsync("counter", 0L, this.TimeoutToken);
        var started = this.Master.Changes.FirstAsync(c => c.Key == "counter").ToTask(this.TimeoutToken);
        var writer = await this.SpawnAsync("count", "counter", Writes.ToString());
        await started;
        var subscriber = await this.SpawnAsync("watch", "counter", Writes.ToString());

        var lines = (await this.ReportAfterExitAsync<WatchScenario.Report>(subscriber)).Changes;
        await this.ReportAfterExitAsync(writer);

        Assert.Equal(KeyChangeKind.Reset, lines[0].Kind);
        Assert.All(lines[1..], c => Assert.Equal(KeyChangeKind.Set, c.Kind));
        var values = lines.Select(c => c.Value!.Value).ToArray();
        Assert.Equal(Enumerable.Range((int)values[0], Writes - (int)values[0] + 1).Select(i => (long)i), values);
        Assert.True(lines.Zip(lines.Skip(1)).All(p => p.First.Version < p.Second.Version), "versions must strictly increase");
        Assert.All(lines, c => Assert.Equal(0, c.Skipped));
    }

    [Fact]
    public async Task RandomSubscribersAndResumes_UnderTwoRandomWriters_MatchTheMastersCommitRecord()
    {
        var (record, reports) = await this.RunChaosAsync();

        var checker = new CommitRecordChecker(record);
        checker.CheckNoGap();
        int checkedSubscriptions = checker.CheckAll(reports);

        Assert.True(checkedSubscriptions >= 20, $"only {checkedSubscriptions} subscriptions were made");
        Assert.True(checker.ResumesChecked > 0 && checker.SnapshotsChecked > 0, $"resumes {checker.ResumesChecked}, snapshots {checker.SnapshotsChecked}");
    }

    private IConnectableObservable<KeyChange> RecordCommits(string key) => this.Master.Changes.Where(c => c.Key == key).Replay();
}

/// <summary>The same tests with the embedded engine.</summary>
public sealed class ChangeStreamTestsInMemory() : ChangeStreamTests(TestEngine.Memory);

/// <summary>The same tests with the store kept in Redis.</summary>
public sealed class ChangeStreamTestsRedis() : ChangeStreamTests(TestEngine.Redis);
