using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Redis;
using Rx.SharedMemory.Store;
using Rx.SharedMemory.TestWorker.Scenarios;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>Masters sharing one store kept in Redis, each with workers of its own; and a master killed with SIGKILL.</summary>
/// <remarks>Alone: three masters and their workers under load would slow the other Redis tests' workers past their guards.</remarks>
[Collection(nameof(Measurements))]
public sealed class MultiMasterTests(ITestOutputHelper output) : WorkerProcessTestBase(TestEngine.Redis)
{
    /// <summary>
    /// The lease of the masters that survive, this test's: renewed every 2 s, it outlasts a stall of 8 s, where the
    /// default's 3.2 s ran out on a two-core machine shared with other builds (load averages of 18-55), and a survivor
    /// whose lease runs out loses its own lock waits, which is the documented behaviour, not what these tests check.
    /// The masters killed (<see cref="RedisMasterProcess"/>) keep the default lease, whose release the tests time.
    /// </summary>
    private static readonly TimeSpan SurvivorLease = TimeSpan.FromSeconds(10);

    /// <summary>Gets the lease of a master killed: the default, as <see cref="RedisMasterProcess"/> starts it.</summary>
    private static TimeSpan DeadLease => new RedisStoreOptions().LeaseTime;

    [Fact]
    public async Task WorkersOfTwoMasters_ShareOneStore_IncrementExactly_AndSeeEachOthersChangesInOrder()
    {
        const int N = 300;
        await using var other = await RedisSharedMemory.StartMasterAsync(this.RedisStore!, cancellationToken: this.TimeoutToken);
        await this.Master.Store.SetAsync("counter", 0, this.TimeoutToken);

        // A watcher on the other master sees every change a worker of this one makes, in order.
        var watcher = await this.SpawnOnAsync(other, "watch", "counter", N.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await this.FirstAsync(this.Master.Changes, c => c.Key == $"ready/{watcher.Worker.Id}");
        var counter = await this.SpawnAsync("count", "counter", N.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var incrementers = new[]
        {
            await this.SpawnAsync("increment", "total", "2000"),
            await this.SpawnOnAsync(other, "increment", "total", "2000"),
        };

        await this.ReportAfterExitAsync(counter);
        var changes = (await this.ReportAfterExitAsync<WatchScenario.Report>(watcher)).Changes;
        foreach (var incrementer in incrementers)
        {
            await this.ReportAfterExitAsync(incrementer);
        }

        Assert.Equal(KeyChangeKind.Reset, changes[0].Kind);
        Assert.Equal(Enumerable.Range(1, N).Select(i => (long?)i), changes[1..].Select(c => c.Value));
        Assert.True(changes.Zip(changes.Skip(1)).All(p => p.First.Version < p.Second.Version), "versions must strictly increase");
        Assert.Equal(4000, await other.Store.GetAsync<long>("total", this.TimeoutToken));
        Assert.Equal(4000, await this.Master.Store.GetAsync<long>("total", this.TimeoutToken));
        Assert.Equal(this.Master.Version, other.Version);
    }

    [Fact]
    public async Task MasterKilledWithSigkill_ItsLockItsOwnAndItsWorkersEphemeralKeys_AreReleasedByTheSurvivor_WithinTheLease()
    {
        var store = this.RedisStore!;
        var ephemeral = this.Master.Store.Observe("held/key").Replay();
        using var recording = ephemeral.Connect();
        using var host = new RedisMasterProcess(store, "held/key", "held/lock", seed: null);
        await this.FirstAsync(ephemeral, c => c.Exists);

        // The host's lock: not granted while it lives.
        await Assert.ThrowsAsync<TimeoutException>(() => this.Master.Store.AcquireLockAsync("held/lock", TimeSpan.FromMilliseconds(200), this.TimeoutToken).AsTask());
        var (lockFreed, keyDeleted) = await this.KillAndTimeReleaseAsync(host, ephemeral, "held/lock");
        output.WriteLine($"lease {DeadLease.TotalSeconds} s: lock granted {lockFreed.TotalMilliseconds:F0} ms, ephemeral key deleted {keyDeleted.TotalMilliseconds:F0} ms after SIGKILL");
        Assert.Null(await this.Master.Store.GetEntryAsync<string>("held/key", this.TimeoutToken));

        // The dead master's own ephemeral key went in the same release as its worker's.
        Assert.Null(await this.Master.Store.GetEntryAsync<int>("held/key/master", this.TimeoutToken));
    }

    [Fact]
    public async Task MastersKilledWithSigkill_Repeatedly_UnderLoad_SurvivorsSubscribersSeeNoGap_AndTheDeadReleaseWithinTheLease()
    {
        var store = this.RedisStore!;
        var commits = new List<KeyChange>();
        var seen = new HashSet<long>();
        var seedSeen = new TaskCompletionSource<long>[4];
        for (int i = 0; i < seedSeen.Length; i++)
        {
            seedSeen[i] = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        using var recording = this.Master.ObserveChanges().Subscribe(c =>
        {
            lock (commits)
            {
                commits.Add(c);
            }

            // Each writer's values are its seed times 10^7 plus a count: a value tells whose writer made it.
            if (c.Kind == KeyChangeKind.Set && c.Key.StartsWith('p') && c.GetValue<long>() / 10_000_000 is var seed and < 4)
            {
                seedSeen[seed].TrySetResult(c.Version);
            }
        });

        // This master, a second one in this process, and one in another process killed with SIGKILL three times
        // while its worker writes; a new one takes its place each time.
        await using var other = await RedisSharedMemory.StartMasterAsync(store, cancellationToken: this.TimeoutToken);
        await this.Master.Store.SetAsync("chaos/end", false, this.TimeoutToken);
        var subscribers = new[] { await this.SpawnReadyAsync("chaos-subscriber", "1"), await this.SpawnReadyAsync("chaos-subscriber", "2") };
        var writer = await this.SpawnOnAsync(other, "tolerant-writer", "0", "1500");
        for (int round = 1; round <= 3; round++)
        {
            string key = $"held/key{round}", lockName = $"held/lock{round}";
            var ephemeral = this.Master.Store.Observe(key).Replay();
            using var connection = ephemeral.Connect();
            using var host = new RedisMasterProcess(store, key, lockName, seed: round);
            await this.FirstAsync(ephemeral, c => c.Exists);
            await seedSeen[round].Task.WaitAsync(this.TimeoutToken);
            var (lockFreed, keyDeleted) = await this.KillAndTimeReleaseAsync(host, ephemeral, lockName);
            output.WriteLine($"round {round}: lock granted {lockFreed.TotalMilliseconds:F0} ms, ephemeral key deleted {keyDeleted.TotalMilliseconds:F0} ms after SIGKILL");
        }

        var written = await this.ReportAfterExitAsync<TolerantWriterScenario.Report>(writer);
        var (record, reports) = await this.EndChaosAsync(subscribers, commits);

        // This master read every commit, whoever made it, in order and without a gap.
        var checker = new CommitRecordChecker(record);
        checker.CheckNoGap();
        Assert.Equal(0, written.Unknown);
        checker.CheckAcknowledged(written.Acknowledged);

        int checkedSubscriptions = checker.CheckAll(reports);
        output.WriteLine($"{record.Length} commits; {checkedSubscriptions} subscriptions checked");
        Assert.True(checkedSubscriptions >= 20, $"only {checkedSubscriptions} subscriptions were made");
    }

    private protected override RedisStoreOptions CreateRedisStore()
    {
        var store = NewRedisStore();
        store.LeaseTime = SurvivorLease;
        return store;
    }

    /// <summary>Kills <paramref name="host"/> with SIGKILL; returns how long its lock and its worker's ephemeral key outlived it, each checked against the lease.</summary>
    private async Task<(TimeSpan LockFreed, TimeSpan KeyDeleted)> KillAndTimeReleaseAsync(RedisMasterProcess host, IObservable<KeyChange> ephemeral, string lockName)
    {
        var store = this.RedisStore!;
        var deleted = ephemeral.FirstAsync(c => c.Kind == KeyChangeKind.Deleted).ToTask(this.TimeoutToken);
        var killed = Stopwatch.StartNew();
        host.Kill();
        IAsyncDisposable held;
        try
        {
            held = await this.Master.Store.AcquireLockAsync(lockName, TimeSpan.FromSeconds(30), this.TimeoutToken);
        }
        catch (TimeoutException ex)
        {
            // What Redis holds tells which side failed: the dead master's lease kept, or the lock passed elsewhere.
            await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(store.Configuration);
            var db = redis.GetDatabase();
            string p = $"{{{store.StoreName}}}:";
            throw new Xunit.Sdk.XunitException($"{ex.Message} Locks: {string.Join(", ", await db.HashGetAllAsync(p + "locks"))}; its queue: {string.Join(", ", await db.ListRangeAsync(p + "lockq:" + lockName))}; leases: {string.Join(", ", await db.HashGetAllAsync(p + "masters"))}; host exited: {host.Exited}.");
        }

        await using var releasing = held;
        var lockFreed = killed.Elapsed;
        await deleted;
        var keyDeleted = killed.Elapsed;

        // The dead master's lease runs out at most its LeaseTime after its last renewal, and a survivor looks every
        // LeaseTime / 5 of its own.
        var bound = DeadLease + (store.LeaseTime / 5) + TimeSpan.FromSeconds(2);
        Assert.True(lockFreed < bound, $"the dead master's lock was granted {lockFreed} after its death; the bound is {bound}");
        Assert.True(keyDeleted < bound, $"the dead master's worker's ephemeral key was deleted {keyDeleted} after its death; the bound is {bound}");
        return (lockFreed, keyDeleted);
    }
}

/// <summary>A store kept in Redis, used from a process that is no one's worker; and a master's reader that fell behind the trimmed log.</summary>
public sealed class RedisStoreTests : TestBase
{
    [Fact]
    public async Task ConnectedStore_SharesTheMastersStore_AndReleasesItsLockAndEphemeralKeysWhenDisposed()
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        var changes = master.Store.Observe("shared").Replay();
        using var recording = changes.Connect();
        var seen = changes.Where(c => c.Kind == KeyChangeKind.Set).Select(c => c.GetValue<int[]>());

        // Subscribed (its state has come) before the write, so that the write comes as a change, not as the state.
        await changes.FirstAsync().ToTask(this.TimeoutToken);
        var store = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        long version = await store.SetAsync("shared", new[] { 0, 1, 2, 3 }, this.TimeoutToken);
        var held = await store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);
        var ephemeral = master.Store.Observe("mine").Replay();
        using var recordingEphemeral = ephemeral.Connect();
        await store.SetAsync("mine", 1, new SetOptions { Ephemeral = true }, this.TimeoutToken);

        var read = await master.Store.GetAsync<int[]>("shared", this.TimeoutToken);
        Assert.Equal([0, 1, 2, 3], read!);
        Assert.Equal(version, (await master.Store.GetEntryAsync<int[]>("shared", this.TimeoutToken))!.Version);
        var observed = await seen.FirstAsync().ToTask(this.TimeoutToken);
        Assert.Equal([0, 1, 2, 3], observed!);
        await Assert.ThrowsAsync<TimeoutException>(() => master.Store.AcquireLockAsync("l", TimeSpan.FromMilliseconds(100), this.TimeoutToken).AsTask());

        // Disposed without releasing its lock: the store gives it back as it closes.
        GC.KeepAlive(held);
        await store.DisposeAsync();
        await using var taken = await master.Store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.GetAsync<int[]>("shared", this.TimeoutToken).AsTask());

        // Its ephemeral key went with it, as a change.
        await ephemeral.FirstAsync(c => c.Kind == KeyChangeKind.Deleted).ToTask(this.TimeoutToken);
        Assert.Null(await master.Store.GetEntryAsync<int>("mine", this.TimeoutToken));
    }

    [Fact]
    public async Task DisposedConnectedStore_FailsCallsAndLaterSubscriptions_WithObjectDisposed_NamingIt()
    {
        var store = await RedisSharedMemory.ConnectStoreAsync(NewRedisStore(), cancellationToken: this.TimeoutToken);
        await store.DisposeAsync();

        var call = await Assert.ThrowsAsync<ObjectDisposedException>(() => store.SetAsync("a", 1, this.TimeoutToken).AsTask());
        var observe = await Assert.ThrowsAsync<ObjectDisposedException>(() => store.Observe("a").ToArray().ToTask(this.TimeoutToken));
        var observePrefix = await Assert.ThrowsAsync<ObjectDisposedException>(() => store.ObservePrefix("p/").ToArray().ToTask(this.TimeoutToken));
        Assert.All(new[] { call, observe, observePrefix }, error => Assert.Equal(typeof(RedisSharedStore).FullName, error.ObjectName));
    }

    [Fact]
    public async Task MasterDisposed_ReleasesItsOwnLockAndEphemeralKeys_AtOnce_NotWhenItsLeaseRunsOut()
    {
        var where = NewRedisStore();
        await using var survivor = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        var leaving = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await leaving.Store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);
        await leaving.Store.SetAsync("mine", 1, new SetOptions { Ephemeral = true }, this.TimeoutToken);
        await leaving.Store.SetAsync("kept", 1, this.TimeoutToken);

        await leaving.DisposeAsync();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        await using var taken = await survivor.Store.AcquireLockAsync("l", TimeSpan.FromSeconds(30), this.TimeoutToken);

        // The lease (3 s) would free it later; leaving in order frees it at once, and deletes the master's own ephemeral
        // keys, which the store would otherwise keep after it.
        Assert.True(waited.Elapsed < where.LeaseTime, $"the lock of a master that left in order was granted after {waited.Elapsed}");
        Assert.Null(await survivor.Store.GetEntryAsync<int>("mine", this.TimeoutToken));
        Assert.NotNull(await survivor.Store.GetEntryAsync<int>("kept", this.TimeoutToken));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task LockRequestWhoseAnswerWasLost_IsTakenBack_SoTheLockIsNotHeldForNobody(bool queued)
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await using var other = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        var engine = (RedisEngine)master.Engine;
        var first = queued ? await master.Store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken) : null;

        // A request that ran (granted, or queued behind the first) while its answer never came back.
        await engine.RunAsync(RedisScripts.Lock, this.TimeoutToken, "l", $"m{engine.MasterId}/w7", "lost.1");
        await engine.Locks.ForgetAsync("l", $"m{engine.MasterId}/w7", "lost.1");
        if (first is not null)
        {
            await first.DisposeAsync();
        }

        // Not held by the lost request: another master gets it at once.
        await using var taken = await other.Store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);
    }

    [Fact]
    public async Task StoreVersionGoingBack_AsAfterAFailoverThatLostWrites_GivesSubscriptionsAReset_AndTheNewChanges()
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await using var writer = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        var changes = master.Store.Observe("k").Replay();
        using var recording = changes.Connect();
        for (int i = 1; i <= 10; i++)
        {
            await master.Store.SetAsync("k", i, this.TimeoutToken);
        }

        // A replica promoted before it had versions 6 to 10.
        await RewindAsync(where, 5);

        // Version 6 again, written through another client: the master had read past it.
        await writer.SetAsync("k", 99, this.TimeoutToken);

        // The master finds the version gone back when its reader next looks, before the write or after it: either
        // way its subscription gets a Reset before, or with, the value written after.
        var seen = await changes.SkipWhile(c => c.Version < 10).Skip(1).TakeUntil(c => c.GetValue<int>() == 99).ToList().ToTask(this.TimeoutToken);
        Assert.Equal(KeyChangeKind.Reset, seen[0].Kind);
        await master.Store.SetAsync("k", 100, this.TimeoutToken);
        var next = await changes.FirstAsync(c => c.GetValue<int>() == 100).ToTask(this.TimeoutToken);
        Assert.Equal((KeyChangeKind.Set, 7L), (next.Kind, next.Version));
    }

    /// <summary>
    /// A write committed whose master's reader cannot read the changes before it (Redis out of reach for that master)
    /// fails as a call Redis does not answer in time, saying it committed, where it waited for Redis to be back.
    /// </summary>
    [Fact]
    public async Task AWriteWaitingForItsReader_FailsAfterTheCallTimeout_SayingItCommitted_AndTheMasterGoesOn()
    {
        var where = NewRedisStore(callTimeoutMs: 3000);
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await using var other = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        using (var held = await this.WriteWaitingForItsReaderAsync(master, other))
        {
            var error = await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => held.Write.WaitAsync(this.TimeoutToken));
            Assert.Contains("committed at version 16, but this master has read no change of the store for 3000 ms", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal((100, 16L), await master.Store.GetEntryAsync<int>("k", this.TimeoutToken) is { } entry ? (entry.Value, entry.Version) : default);
        Assert.Equal(17, await master.Store.SetAsync("k", 17, this.TimeoutToken));
    }

    /// <summary>
    /// The release of what a gone worker held waits for its master's reader as a write does: it ends with the master's
    /// stopping (its token), or fails after a call's timeout while the reader reads nothing, so that the worker's exit is
    /// reported, and its master disposed, while Redis is out of reach for that master; the worker's connection asks again.
    /// </summary>
    [Fact]
    public async Task AReleaseWaitingForItsReader_EndsWithItsToken_OrFailsAfterTheCallTimeout()
    {
        var where = NewRedisStore(callTimeoutMs: 3000);
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await using var other = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        var engine = (RedisEngine)master.Engine;
        using var held = await this.WriteWaitingForItsReaderAsync(master, other);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(this.TimeoutToken);
        stopping.CancelAfter(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => engine.ReleaseOwnerAsync(7, stopping.Token).AsTask().WaitAsync(this.TimeoutToken));
        var error = await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => engine.ReleaseOwnerAsync(7, CancellationToken.None).AsTask().WaitAsync(this.TimeoutToken));
        Assert.Contains("has read no change of the store for 3000 ms", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoreVersionGoingBack_BelowAWriteItsMastersReaderHadNotReached_ReleasesTheWrite()
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await using var other = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        Task<long> write;
        using (var held = await this.WriteWaitingForItsReaderAsync(master, other))
        {
            write = held.Write;

            // A replica promoted with only what the master's reader had read: versions 6 to 16 are gone.
            await RewindAsync(where, 5);
        }

        // The reader finds nothing past 5 and the store at 5: the write waits no longer for a version that is gone.
        Assert.Equal(16, await write.WaitAsync(this.TimeoutToken));
        Assert.Equal(6, await master.Store.SetAsync("k", 6, this.TimeoutToken));
    }

    [Fact]
    public async Task StoreVersionGoingBack_AboveItsMastersReader_ReleasesAWaitForALostVersionOnlyOnceTheChangesKeptAreHandedOut()
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await using var other = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        var feed = ((RedisEngine)master.Engine).Feed;
        using var held = await this.WriteWaitingForItsReaderAsync(master, other);

        // A failover keeps versions 6 to 10, and the reader's read fails on the way: it finds the store at 10, above it.
        await RewindAsync(where, 10);
        using (var next = await held.Reader.FailReadAndHoldNextAsync(this.TimeoutToken))
        {
            // The write, whose version is lost, still waits: the changes kept (6 to 10) go before it.
            Assert.Equal((5L, 1), (feed.Position, feed.Waiting));
        }

        // Once they are handed out, and the reader finds nothing after them, it waits no longer.
        Assert.Equal(16, await held.Write.WaitAsync(this.TimeoutToken));
        Assert.True(feed.Position >= 10, $"the write was released with its master's reader at version {feed.Position}");
    }

    [Fact]
    public async Task ALockReleaseThatFailed_IsTakenBackByItsRequest_NotByItsToken_WhichAStoreRestartedEmptyHandsOutAgain()
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await using var other = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        var engine = (RedisEngine)master.Engine;
        var lockHeld = await master.Store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);

        // Redis out of reach for this master's releases, until the test lets them through.
        var reachable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var retried = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        engine.Sending = function =>
        {
            if (function == RedisScripts.Unlock || function == RedisScripts.Forget)
            {
                if (!reachable.Task.IsCompleted)
                {
                    throw RedisFailure.ConnectionLost("Redis is out of reach (test).");
                }

                retried.TrySetResult();
            }
        };
        await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => lockHeld.DisposeAsync().AsTask());

        // The store restarted empty: the lock free, its tokens counted from the start again, so that another takes
        // the lock with the very token the release failed for.
        await EmptyLocksAsync(where);

        await using var taken = await other.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);
        reachable.SetResult();
        await retried.Task.WaitAsync(this.TimeoutToken);

        // A call sent after the retry runs after it in Redis: then the other's lock is still held.
        await master.Store.GetAsync<int>("after", this.TimeoutToken);
        await Assert.ThrowsAsync<TimeoutException>(() => master.Store.AcquireLockAsync("l", TimeSpan.Zero, this.TimeoutToken).AsTask());
    }

    [Fact]
    public async Task ALockRelease_GoesByTheRequestThatTookIt_SoThatInAStoreRestartedEmptyItFreesNoOtherHoldersLock()
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await using var other = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        var lockHeld = await master.Store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);

        // The store restarted empty: the lock free, its tokens counted from the start again, so that another takes
        // the lock with the very token this master's holder has.
        await EmptyLocksAsync(where);

        await using var taken = await other.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);
        await lockHeld.DisposeAsync();

        await Assert.ThrowsAsync<TimeoutException>(() => master.Store.AcquireLockAsync("l", TimeSpan.Zero, this.TimeoutToken).AsTask());
    }

    [Fact]
    public async Task MastersThatJoinAStoreRestartedEmpty_GetIdsOfTheirOwn_SoThatOnesLeavingReleasesNothingOfTheOther()
    {
        var where = NewRedisStore();
        await using var leaving = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);

        // The store restarted empty while the master ran: it knows no master, and has counted none.
        await ForgetMastersAsync(where);
        await using var joined = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await using var other = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        Assert.NotEqual(((RedisEngine)leaving.Engine).MasterId, ((RedisEngine)joined.Engine).MasterId);
        await using var held = await joined.Store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);
        await joined.Store.SetAsync("mine", 1, new SetOptions { Ephemeral = true }, this.TimeoutToken);

        await leaving.DisposeAsync();

        Assert.NotNull(await joined.Store.GetEntryAsync<int>("mine", this.TimeoutToken));
        await Assert.ThrowsAsync<TimeoutException>(() => other.AcquireLockAsync("l", TimeSpan.Zero, this.TimeoutToken).AsTask());
    }

    /// <summary>How the change now at a master's reader's position reaches that master, in <see cref="StoreEmptied_ThenWrittenPastItsMastersReader_GivesSubscriptionsTheirStateAgain_NeverASilentGap"/>.</summary>
    public enum ReplacedChangeComesBy
    {
        /// <summary>The wake-up of its write, which carries it.</summary>
        WakeUp,

        /// <summary>The reader's read of the log.</summary>
        Log,

        /// <summary>A wake-up that carries only its version (its value is too large), then wake-ups that carry the changes after it.</summary>
        VersionOnlyWakeUp,

        /// <summary>The answer of this master's own write, which carries the log's entries after the reader's position.</summary>
        OwnWriteAnswer,
    }

    [Theory]
    [InlineData(ReplacedChangeComesBy.WakeUp)]
    [InlineData(ReplacedChangeComesBy.Log)]
    [InlineData(ReplacedChangeComesBy.VersionOnlyWakeUp)]
    [InlineData(ReplacedChangeComesBy.OwnWriteAnswer)]
    public async Task StoreEmptied_ThenWrittenPastItsMastersReader_GivesSubscriptionsTheirStateAgain_NeverASilentGap(ReplacedChangeComesBy way)
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        using var mirror = await master.Store.MirrorAsync("k/", this.TimeoutToken);
        for (int i = 0; i < 5; i++)
        {
            await master.Store.SetAsync($"k/old{i}", i, this.TimeoutToken);
        }

        await mirror.WaitForVersionAsync(5, this.TimeoutToken);
        var feed = ((RedisEngine)master.Engine).Feed;
        string[] expected;
        using (await HeldReader.HoldAsync(feed, this.TimeoutToken, wakeUpsToo: way is ReplacedChangeComesBy.Log or ReplacedChangeComesBy.OwnWriteAnswer))
        {
            // The store restarted empty, and another master wrote past this one's reader before it looked again:
            // versions 1 to 5 are other changes now.
            await EmptyStoreAsync(where);
            await using var other = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
            int count = way == ReplacedChangeComesBy.OwnWriteAnswer ? 5 : 20;
            for (int i = 1; i <= count; i++)
            {
                object value = way == ReplacedChangeComesBy.VersionOnlyWakeUp && i == 5 ? new string('x', 70_000) : i;
                await other.SetAsync($"k/new{i}", value, this.TimeoutToken);
            }

            expected = [.. Enumerable.Range(1, count).Select(i => $"k/new{i}")];
            if (way == ReplacedChangeComesBy.OwnWriteAnswer)
            {
                await master.Store.SetAsync("k/mine", 6, this.TimeoutToken);
                expected = [.. expected, "k/mine"];
            }
        }

        await mirror.WaitForVersionAsync(expected.Length, this.TimeoutToken);
        Assert.Equal(expected.Order(StringComparer.Ordinal), mirror.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task AnIdleMastersReader_DoesNotReadTheLastChangesValueAgain()
    {
        // A server of its own: what Redis sends is this master's and this test's alone.
        using var own = RedisServer.Start();
        var where = new RedisStoreOptions { Configuration = own.Configuration, StoreName = "idle" };
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await master.Store.SetAsync("big", new string('x', 4 * 1024 * 1024), this.TimeoutToken);
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(where.Configuration + ",allowAdmin=true");
        var server = redis.GetServers()[0];
        async Task<long> SentAsync() => long.Parse((await server.InfoAsync("stats")).SelectMany(g => g).First(p => p.Key == "total_net_output_bytes").Value, System.Globalization.CultureInfo.InvariantCulture);

        // Ten looks of the idle reader at the log, counted from the first that begins after the write.
        var feed = ((RedisEngine)master.Engine).Feed;
        int looks = 0;
        var tenth = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        feed.BeforeRead = async () =>
        {
            int look = Interlocked.Increment(ref looks);
            if (look == 1)
            {
                started.TrySetResult(await SentAsync());
            }
            else if (look == 11)
            {
                tenth.TrySetResult();
            }
        };
        long before = await started.Task.WaitAsync(this.TimeoutToken);
        await tenth.Task.WaitAsync(this.TimeoutToken);
        feed.BeforeRead = null;
        long sent = await SentAsync() - before;

        // Each look reads the last change's key, kind and time, not its 4 MiB value (it read 80 MB in 2 s so).
        Assert.True(sent < 1_000_000, $"Redis sent {sent} bytes over ten looks of an idle master's reader (and this test's own calls)");
    }

    [Fact]
    public async Task AWorkersFailedRelease_NoLongerCountsAgainstItsHeldLocks()
    {
        // The master releases it once Redis answers; the worker cannot release it again, so it must not keep its place.
        var options = new SharedMemoryOptions { MaxHeldLocksPerConnection = 1 };
        using var engine = await RedisEngine.ConnectAsync(NewRedisStore(), options, NullLogger.Instance, this.TimeoutToken);
        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var connection = GreetedConnection(engine, outbox, options);
        long token = await connection.LockAsync("a", 5_000, this.TimeoutToken);
        engine.Sending = function =>
        {
            if (function == RedisScripts.Unlock || function == RedisScripts.Forget)
            {
                throw RedisFailure.ConnectionLost("Redis is out of reach (test).");
            }
        };

        await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => connection.UnlockAsync("a", token).AsTask());

        Assert.True(await connection.LockAsync("b", 5_000, this.TimeoutToken) > 0);
    }

    /// <summary>
    /// Writes versions 1 to 5 through <paramref name="master"/>, holds its reader there, writes 6 to 15 through
    /// <paramref name="other"/>, then 16 through the master: more than 8 changes of another client first, so that the
    /// write's answer carries none of them, nor its own, and the write waits for the master's reader to hand them out.
    /// </summary>
    private async Task<WaitingWrite> WriteWaitingForItsReaderAsync(SharedMemoryMaster master, RedisSharedStore other)
    {
        for (int i = 1; i <= 5; i++)
        {
            await master.Store.SetAsync("k", i, this.TimeoutToken);
        }

        var seenByOther = other.Observe("k").Replay();
        using var recording = seenByOther.Connect();
        await seenByOther.FirstAsync().ToTask(this.TimeoutToken);
        var reader = await HeldReader.HoldAsync(((RedisEngine)master.Engine).Feed, this.TimeoutToken);
        try
        {
            for (int i = 0; i < 10; i++)
            {
                await other.SetAsync("o", i, this.TimeoutToken);
            }

            var write = master.Store.SetAsync("k", 100, this.TimeoutToken).AsTask();
            var committed = await seenByOther.FirstAsync(c => c.Kind == KeyChangeKind.Set && c.GetValue<int>() == 100).ToTask(this.TimeoutToken);
            Assert.Equal(16, committed.Version);
            Assert.False(write.IsCompleted);
            return new WaitingWrite(write, reader);
        }
        catch
        {
            reader.Dispose(); // a reader left held would hold the master's disposal
            throw;
        }
    }

    /// <summary>A master's write that waits for its reader, held (<see cref="WriteWaitingForItsReaderAsync"/>); disposing lets the reader go.</summary>
    private sealed record WaitingWrite(Task<long> Write, HeldReader Reader) : IDisposable
    {
        public void Dispose() => this.Reader.Dispose();
    }

    /// <summary>Takes a store's locks and its lock tokens' counter away, as a restart that lost its data would.</summary>
    private static async Task EmptyLocksAsync(RedisStoreOptions where)
    {
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(where.Configuration);
        await redis.GetDatabase().KeyDeleteAsync([$"{{{where.StoreName}}}:locks", $"{{{where.StoreName}}}:locktokens"]);
    }

    /// <summary>Takes every key of a store away, as a restart that lost its data would.</summary>
    private static async Task EmptyStoreAsync(RedisStoreOptions where)
    {
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(where.Configuration);
        var server = redis.GetServers()[0];
        await foreach (var key in server.KeysAsync(pattern: $"{{{where.StoreName}}}*"))
        {
            await redis.GetDatabase().KeyDeleteAsync(key);
        }
    }

    /// <summary>Takes a store's masters and their counter away, as a restart that lost its data would.</summary>
    private static async Task ForgetMastersAsync(RedisStoreOptions where)
    {
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(where.Configuration);
        await redis.GetDatabase().KeyDeleteAsync([$"{{{where.StoreName}}}:masters", $"{{{where.StoreName}}}:masterids", $"{{{where.StoreName}}}:renewed"]);
    }

    /// <summary>
    /// Takes a store back to <paramref name="version"/>, as a failover to a replica that lacked the writes after it:
    /// its counter and its change log end there (the keys keep their values: no test here reads them back).
    /// </summary>
    private static async Task RewindAsync(RedisStoreOptions where, long version)
    {
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(where.Configuration);
        var db = redis.GetDatabase();
        string log = $"{{{where.StoreName}}}:log";
        var kept = await db.StreamRangeAsync(log, "-", $"{version}-0");
        await db.KeyDeleteAsync(log);
        foreach (var entry in kept)
        {
            await db.StreamAddAsync(log, entry.Values, entry.Id);
        }

        await db.StringSetAsync($"{{{where.StoreName}}}:version", version);
    }

    [Fact]
    public async Task SubscriptionOpeningOnAConnection_HoldsBackItsOtherSubscriptionsLaterChanges_SoTheConnectionGetsThemInCommitOrder()
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        var engine = (RedisEngine)master.Engine;
        var received = new List<OutboxItem>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var outbox = new ChangeOutbox(
            int.MaxValue,
            batch =>
            {
                lock (received)
                {
                    received.AddRange(batch);
                    if (received.Count >= 4)
                    {
                        all.TrySetResult();
                    }
                }

                return default;
            },
            NullLogger.Instance);

        // One connection's two subscriptions: the first open, the second's state read from Redis and held back.
        var open = new StoreSubscription(1, "a", isPrefix: false, outbox);
        await engine.SubscribeAsync(open, fromVersion: null, this.TimeoutToken);
        var second = await HeldStateRead.OpenAsync(engine, new StoreSubscription(2, "b", isPrefix: false, outbox), this.TimeoutToken);

        // Committed while the second opens, b before a: the connection gets b's change before a's, as it would have
        // if the second's state had come at once; a's is not let through first.
        long b = await master.Store.SetAsync("b", 1, this.TimeoutToken);
        long a = await master.Store.SetAsync("a", 2, this.TimeoutToken);
        second.Release();
        await second.Opening.WaitAsync(this.TimeoutToken);
        await all.Task.WaitAsync(this.TimeoutToken);

        lock (received)
        {
            Assert.Equal(
                [(1L, KeyChangeKind.Reset, 0L), (2L, KeyChangeKind.Reset, 0L), (2L, KeyChangeKind.Set, b), (1L, KeyChangeKind.Set, a)],
                received.Select(item => (item.SubscriptionId, item.Change.Kind, item.Change.Version)));
        }
    }

    [Fact]
    public async Task AResyncWhoseStateReadFailsForAReasonOfOurs_IsTriedAgain_UntilItsResetComes()
    {
        var where = NewRedisStore();
        var options = new SharedMemoryOptions { ChangeLogCapacity = 10 };
        await using var master = await RedisSharedMemory.StartMasterAsync(where, options, cancellationToken: this.TimeoutToken);
        await using var writer = await RedisSharedMemory.ConnectStoreAsync(where, options, cancellationToken: this.TimeoutToken);
        var changes = master.Store.Observe("k").Replay();
        using var recording = changes.Connect();
        await changes.FirstAsync(c => c.Kind == KeyChangeKind.Reset).ToTask(this.TimeoutToken);

        // The state read again after the gap fails once with an exception that is not Redis's.
        var feed = ((RedisEngine)master.Engine).Feed;
        int reads = 0;
        feed.BeforeStateQueued = () => Interlocked.Increment(ref reads) == 1 ? throw new InvalidOperationException("A fault of the state's read, once.") : Task.CompletedTask;
        long last = await this.SetWithTheReaderHeldAsync(feed, writer, 30);

        var caughtUp = await changes.FirstAsync(c => c.Version >= last).ToTask(this.TimeoutToken);
        Assert.Equal((KeyChangeKind.Reset, 30, last), (caughtUp.Kind, caughtUp.GetValue<int>(), caughtUp.Version));
        Assert.True(Volatile.Read(ref reads) >= 2, $"the state was read {reads} times");
    }

    [Fact]
    public async Task ReaderBehindTheTrimmedLog_GivesItsSubscriptionsAReset_NeverASilentGap()
    {
        var where = NewRedisStore();
        var options = new SharedMemoryOptions { ChangeLogCapacity = 10 };
        await using var master = await RedisSharedMemory.StartMasterAsync(where, options, cancellationToken: this.TimeoutToken);
        await using var writer = await RedisSharedMemory.ConnectStoreAsync(where, options, cancellationToken: this.TimeoutToken);
        await writer.SetAsync("k", 0, this.TimeoutToken);
        var changes = master.Store.Observe("k").Replay();
        using var recording = changes.Connect();
        await changes.FirstAsync(c => c.Kind == KeyChangeKind.Reset).ToTask(this.TimeoutToken);

        // The master's reader held back while another client commits five times what the log keeps.
        long last = await this.SetWithTheReaderHeldAsync(((RedisEngine)master.Engine).Feed, writer, 50);

        var caughtUp = await changes.FirstAsync(c => c.Version == last).ToTask(this.TimeoutToken);
        var all = await changes.TakeWhile(c => c.Version < last).ToArray().ToTask(this.TimeoutToken);

        // After the first state, what the reader missed comes as a Reset of the latest value: no change is skipped silently.
        Assert.Equal(KeyChangeKind.Reset, caughtUp.Kind);
        Assert.Equal(50, caughtUp.GetValue<int>());
        Assert.All(all.Skip(1), c => Assert.True(c.Kind == KeyChangeKind.Set, $"unexpected {c.Kind} at version {c.Version}"));
    }

    /// <summary>
    /// Sets k to 1 … <paramref name="count"/> through <paramref name="writer"/> while <paramref name="feed"/>'s reader is
    /// held (wake-ups' changes too), so that a log shorter than that is trimmed past it.
    /// </summary>
    /// <returns>The version of the last set.</returns>
    private async Task<long> SetWithTheReaderHeldAsync(RedisChangeFeed feed, ISharedStore writer, int count)
    {
        long last = 0;
        using (await HeldReader.HoldAsync(feed, this.TimeoutToken))
        {
            for (int i = 1; i <= count; i++)
            {
                last = await writer.SetAsync("k", i, this.TimeoutToken);
            }
        }

        return last;
    }
}
