using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Extensions.Time.Testing;

namespace Rx.SharedMemory.Tests;

/// <summary>Expiry and lock waits follow the master's <see cref="SharedMemoryOptions.TimeProvider"/>: a fake clock drives them, with no wall-clock wait.</summary>
public sealed class ExpiryClockTests : WorkerProcessTestBase
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider clock;

    public ExpiryClockTests()
        : this(new FakeTimeProvider(Start))
    {
    }

    private ExpiryClockTests(FakeTimeProvider clock)
        : base(new SharedMemoryOptions { TimeProvider = clock }) => this.clock = clock;

    [Fact]
    public async Task FakeClock_ExpiresEachKeyExactlyWhenItPassesTheDeadline_InDeadlineOrder()
    {
        var master = this.Master;
        var clock = this.clock;
        var expired = master.ObserveChanges().Where(c => c.Kind == KeyChangeKind.Expired).Replay();
        using var connection = expired.Connect();

        // Hours apart: a scheduler that waited on the wall clock would not expire anything within the test's timeout.
        await master.Store.SetAsync("k/3", 3, new SetOptions { TimeToLive = TimeSpan.FromHours(3) }, this.TimeoutToken);
        await master.Store.SetAsync("k/1", 1, new SetOptions { TimeToLive = TimeSpan.FromHours(1) }, this.TimeoutToken);
        await master.Store.SetAsync("k/moved", 4, new SetOptions { TimeToLive = TimeSpan.FromHours(1) }, this.TimeoutToken);
        await master.Store.SetAsync("k/2", 2, new SetOptions { TimeToLive = TimeSpan.FromHours(2) }, this.TimeoutToken);
        await master.Store.SetAsync("k/never", 0, this.TimeoutToken);

        // Rewritten: its first deadline is stale and must not expire it.
        await master.Store.SetAsync("k/moved", 4, new SetOptions { TimeToLive = TimeSpan.FromHours(4) }, this.TimeoutToken);

        clock.Advance(TimeSpan.FromHours(1) - TimeSpan.FromTicks(1));
        Assert.Equal(5, master.Count);
        for (int hour = 1; hour <= 4; hour++)
        {
            // The clock stands still until the change came: its timestamp is the moment the expiry ran.
            clock.SetUtcNow(Start + TimeSpan.FromHours(hour));
            var change = await expired.Skip(hour - 1).FirstAsync().ToTask(this.TimeoutToken);
            Assert.Equal(hour == 4 ? "k/moved" : $"k/{hour}", change.Key);
            Assert.Equal(Start + TimeSpan.FromHours(hour), change.Timestamp);
            Assert.Equal(5 - hour, master.Count);
            clock.Advance(TimeSpan.FromHours(1) - TimeSpan.FromTicks(1));
        }

        var all = await expired.Take(4).ToArray().ToTask(this.TimeoutToken);
        Assert.Equal(["k/1", "k/2", "k/3", "k/moved"], all.Select(c => c.Key));
        Assert.True(all.Zip(all.Skip(1)).All(p => p.First.Version < p.Second.Version), "Expired changes out of version order");
        Assert.Equal(0, (await master.Store.GetEntryAsync<int>("k/never", this.TimeoutToken))!.Value);
    }

    [Fact]
    public async Task FakeClock_TimesALockWait_WhichFailsWhenTheClockPassesItsTimeout_AndNotBefore()
    {
        var store = this.Master.Store;
        await using var held = await store.AcquireLockAsync("clock/lock", TimeSpan.Zero, this.TimeoutToken);

        // An hour: a wait timed by the wall clock would outlast the test.
        var waiting = store.AcquireLockAsync("clock/lock", TimeSpan.FromHours(1), this.TimeoutToken).AsTask();
        this.clock.Advance(TimeSpan.FromHours(1) - TimeSpan.FromTicks(1));
        Assert.False(waiting.IsCompleted);
        this.clock.Advance(TimeSpan.FromTicks(1));

        var timedOut = await Assert.ThrowsAsync<TimeoutException>(() => waiting);
        Assert.Contains("'clock/lock'", timedOut.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FakeClock_PastTheDeadline_ExpiresAKeyAWorkerWatches_OverThePipe()
    {
        await this.Master.Store.SetAsync("watched", 1, new SetOptions { TimeToLive = TimeSpan.FromDays(1) }, this.TimeoutToken);
        var spawned = await this.SpawnReadyAsync("observe-first", "watched", "2");

        this.clock.Advance(TimeSpan.FromDays(1) - TimeSpan.FromTicks(1));
        Assert.NotNull(await this.Master.Store.GetEntryAsync<int>("watched", this.TimeoutToken));
        this.clock.Advance(TimeSpan.FromTicks(1));

        var changes = (await this.ReportAfterExitAsync<ObserveFirstScenario.Report>(spawned)).Changes;
        Assert.Equal(2, changes.Length);
        Assert.Equal(new ObserveFirstScenario.Change(KeyChangeKind.Reset, true, 1, "1"), changes[0]);
        Assert.Equal(KeyChangeKind.Expired, changes[1].Kind);
        Assert.False(changes[1].Exists);
    }
}
