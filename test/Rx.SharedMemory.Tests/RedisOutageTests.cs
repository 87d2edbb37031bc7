using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Rx.SharedMemory.Redis;
using Rx.SharedMemory.TestWorker.Scenarios;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>The Redis server behind a master killed with SIGKILL and restarted from its AOF while workers write and subscribe.</summary>
/// <remarks>Alone: its load (every write fsynced) would slow the other Redis tests' workers past their guards.</remarks>
[Collection(nameof(Measurements))]
public sealed class RedisOutageTests(ITestOutputHelper output) : WorkerProcessTestBase(TestEngine.Redis), IDisposable
{
    // Every write is in the AOF before Redis answers it: a restart keeps everything acknowledged.
    private readonly RedisServer server = RedisServer.Start("--appendfsync", "always");

    public void Dispose() => this.server.Dispose();

    [Fact]
    public async Task RedisKilledAndRestartedFromItsAof_UnderLoad_LosesNothingAcknowledged_AndSubscribersResumeExactly()
    {
        var commits = new List<KeyChange>();
        var loaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var recording = this.Master.ObserveChanges().Subscribe(c =>
        {
            lock (commits)
            {
                commits.Add(c);
                if (commits.Count >= 300)
                {
                    loaded.TrySetResult();
                }
            }
        });
        await this.Master.Store.SetAsync("chaos/end", false, this.TimeoutToken);
        var subscribers = new[] { await this.SpawnReadyAsync("chaos-subscriber", "1"), await this.SpawnReadyAsync("chaos-subscriber", "2") };
        var writers = new[] { await this.SpawnAsync("tolerant-writer", "1", "800"), await this.SpawnAsync("tolerant-writer", "2", "800") };

        // Down for a second in the middle of the load: calls sent meanwhile fail or wait for the server.
        await loaded.Task.WaitAsync(this.TimeoutToken);
        this.server.Kill();
        long killedAfter = commits.Count;
        await Task.Delay(TimeSpan.FromSeconds(1), this.TimeoutToken);
        this.server.Restart();

        var written = new List<TolerantWriterScenario.Report>();
        foreach (var writer in writers)
        {
            written.Add(await this.ReportAfterExitAsync<TolerantWriterScenario.Report>(writer));
        }

        var (record, reports) = await this.EndChaosAsync(subscribers, commits);

        output.WriteLine($"{record.Length} commits, {killedAfter} before the kill; unknown outcomes: {string.Join(", ", written.Select(w => w.Unknown))}; {string.Join(" / ", written.SelectMany(w => w.Failures).Take(2))}");
        Assert.True(record.Length > killedAfter + 300, $"only {record.Length - killedAfter} commits after the restart");

        // The master read every commit, across the restart, without a gap: the log came back whole from the AOF.
        var checker = new CommitRecordChecker(record, unavailable: true);
        checker.CheckNoGap();

        // Every acknowledged set is a commit of its key and value at its version; no value committed twice.
        checker.CheckAcknowledged(written.SelectMany(w => w.Acknowledged));

        var values = record.Where(c => c.Kind == KeyChangeKind.Set && c.Key.StartsWith('p')).Select(c => c.GetValue<long>()).ToArray();
        Assert.Equal(values.Length, values.Distinct().Count());

        // The store holds the last commit of every key.
        foreach (var last in record.Where(c => c.Key.StartsWith('p')).GroupBy(c => c.Key).Select(g => g.Last()))
        {
            var entry = await this.Master.Store.GetEntryAsync<long>(last.Key, this.TimeoutToken);
            (long Value, long Version)? expected = last.Kind == KeyChangeKind.Set ? (last.GetValue<long>(), last.Version) : null;
            Assert.Equal(expected, entry is null ? null : (entry.Value, entry.Version));
        }

        // Every subscription saw the commits in order, each once, with its state exact, up to its end or its failure.
        int checkedSubscriptions = checker.CheckAll(reports);
        output.WriteLine($"{checkedSubscriptions} subscriptions checked, {checker.FailuresChecked} failed while Redis was down");
        Assert.True(checkedSubscriptions >= 20, $"only {checkedSubscriptions} subscriptions were made");
    }

    [Fact]
    public async Task RedisDown_CallsFailWithUnavailable_NamingTheStore_AndWorkAgainOnceItIsBack()
    {
        await this.Master.Store.SetAsync("k", 1, this.TimeoutToken);
        var worker = (await this.SpawnReadyAsync("messages", "hold")).Worker;
        var held = await this.Master.Store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);
        this.server.Kill();

        // A release fails as any call, and cannot be made again: the master releases the lock once Redis is back.
        await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => held.DisposeAsync().AsTask());

        // Not retried behind the caller's back: StackExchange.Redis gives up after its timeout (5 s), and so does the call.
        var failed = await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => this.Master.Store.SetAsync("k", 2, this.TimeoutToken).AsTask());
        Assert.Contains("'outage'", failed.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => this.Master.Store.GetAsync<int>("k", this.TimeoutToken).AsTask());

        // The master's counters are reads of Redis too, and fail as its calls do (not with StackExchange.Redis's types).
        var unread = Assert.Throws<SharedMemoryUnavailableException>(() => this.Master.Version);
        Assert.Contains("'outage'", unread.Message, StringComparison.Ordinal);
        Assert.Throws<SharedMemoryUnavailableException>(() => this.Master.Count);

        // A message comes after the changes committed before it, which only Redis can tell: it is not sent.
        await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => this.Master.BroadcastAsync(1, this.TimeoutToken).AsTask());
        await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => worker.SendAsync(2, this.TimeoutToken).AsTask());

        this.server.Restart();
        var back = System.Diagnostics.Stopwatch.StartNew();
        long version = 0;
        while (version == 0)
        {
            try
            {
                version = await this.Master.Store.SetAsync("k", 3, this.TimeoutToken);
            }
            catch (SharedMemoryUnavailableException) when (back.Elapsed < TimeSpan.FromSeconds(30))
            {
                // Reconnecting.
            }
        }

        output.WriteLine($"a write succeeded {back.ElapsedMilliseconds} ms after the restart, at version {version}");
        Assert.Equal(3, await this.Master.Store.GetAsync<int>("k", this.TimeoutToken));
        await using var other = await RedisSharedMemory.ConnectStoreAsync(this.RedisStore!, cancellationToken: this.TimeoutToken);
        await using var taken = await other.AcquireLockAsync("l", TimeSpan.FromSeconds(20), this.TimeoutToken);
    }

    /// <summary>
    /// Redis refuses a function that may write when it is out of memory, before running it: the call did nothing, and
    /// its exception says so, where it said a write may have committed.
    /// </summary>
    [Fact]
    public async Task RedisOutOfMemory_RefusesTheCall_SayingNothingWasWritten()
    {
        await this.Master.Store.SetAsync("k", 1, this.TimeoutToken);
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(this.server.Configuration + ",allowAdmin=true");
        var db = redis.GetDatabase();
        await db.ExecuteAsync("CONFIG", "SET", "maxmemory", "1");
        try
        {
            var refused = await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => this.Master.Store.SetAsync("k", 2, this.TimeoutToken).AsTask());
            Assert.Contains("out of memory", refused.Message, StringComparison.Ordinal);
            Assert.Contains("Nothing was written", refused.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("may or may not", refused.Message, StringComparison.Ordinal);
        }
        finally
        {
            await db.ExecuteAsync("CONFIG", "SET", "maxmemory", "0");
        }

        Assert.Equal(1, await this.Master.Store.GetAsync<int>("k", this.TimeoutToken));
    }

    [Fact]
    public async Task WorkerKilledWhileRedisIsDown_ItsLockAndEphemeralKey_AreReleasedOnceRedisIsBack_BeforeItsExitIsReported()
    {
        // A master of its own, whose log tells when a release has failed and is asked again (event 109).
        using var logs = new RecordingLoggerFactory();
        await using var master = await RedisSharedMemory.StartMasterAsync(this.RedisStore!, loggerFactory: logs, cancellationToken: this.TimeoutToken);
        var ready = master.Changes.Where(c => c.Key.StartsWith("ready/", StringComparison.Ordinal)).Replay();
        using var readyRecording = ready.Connect();
        var holder = await this.SpawnOnAsync(master, "hold", "held");
        var writer = await this.SpawnOnAsync(master, "ephemeral", "mine");
        await this.FirstAsync(ready, c => c.Key == $"ready/{holder.Worker.Id}");
        await this.FirstAsync(ready, c => c.Key == $"ready/{writer.Worker.Id}");
        var retrying = logs.Records.Where(r => r.EventId.Id == 109).Replay();
        using var retryRecording = retrying.Connect();

        this.server.Kill();
        holder.Worker.Kill();
        writer.Worker.Kill();

        // Down until both releases have failed (past StackExchange.Redis's timeout): each is asked again, and neither
        // exit is reported meanwhile, with the lock and the key still held.
        await this.FirstAsync(retrying, r => r.Message.Contains($"worker {holder.Worker.Id} ", StringComparison.Ordinal));
        await this.FirstAsync(retrying, r => r.Message.Contains($"worker {writer.Worker.Id} ", StringComparison.Ordinal));
        Assert.False(holder.Worker.Exited.IsCompleted || writer.Worker.Exited.IsCompleted, "a worker's exit was reported while what it held could not be released");

        this.server.Restart();
        await Task.WhenAll(holder.Worker.Exited, writer.Worker.Exited).WaitAsync(this.TimeoutToken);
        Assert.Null(await master.Store.GetEntryAsync<string>("mine", this.TimeoutToken));
        await using var taken = await master.Store.AcquireLockAsync("held", TimeSpan.Zero, this.TimeoutToken);
    }

    /// <summary>
    /// Leases are deadlines in Redis's time, which runs on while Redis is down: a master that reached Redis again first
    /// reaped a live master whose lease had run out meanwhile, and released its lock and ephemeral keys, so that a
    /// lock had two holders. Here the other master, in a process of its own, is paused (SIGSTOP) from before the
    /// outage until this one is back, so that its lease has surely run out; once resumed, it renews, and keeps what
    /// it held. Without the fix, this master reaped it as soon as it was back, every time.
    /// </summary>
    [Fact]
    public async Task RedisDownLongerThanALease_TheMasterBackFirst_ReapsNoLiveMaster()
    {
        var store = new RedisStoreOptions { Configuration = this.server.Configuration, StoreName = "outage-lease" };
        using var logs = new RecordingLoggerFactory();
        await using var first = await RedisSharedMemory.StartMasterAsync(store, loggerFactory: logs, cancellationToken: this.TimeoutToken);
        var reaped = new List<string>();
        using var recordingReaped = logs.Records.Where(r => r.EventId.Id is 508 or 509).Subscribe(r =>
        {
            lock (reaped)
            {
                reaped.Add(r.Message);
            }
        });
        var held = first.Store.Observe("held/key/master").Replay();
        using var recordingHeld = held.Connect();
        var ready = first.Store.ObservePrefix("ready/").Replay();
        using var recordingReady = ready.Connect();
        using var other = new RedisMasterProcess(store, "held/key", "held/lock", seed: null);

        // Its worker's last call done too: one in flight through the outage fails, and the worker exits on it.
        await this.FirstAsync(held, c => c.Exists);
        await this.FirstAsync(ready, c => c.Exists);

        // The other master renews nothing from a second before the outage until this one is back: more than its lease.
        // The two waits are the scenario under test (the pause before the outage, the outage), not synchronisation.
        other.Pause();
        await Task.Delay(TimeSpan.FromSeconds(1), this.TimeoutToken);
        this.server.Kill();
        await Task.Delay(TimeSpan.FromSeconds(3), this.TimeoutToken);
        this.server.Restart();
        var back = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await first.Store.GetAsync<int>("probe", this.TimeoutToken);
                break;
            }
            catch (SharedMemoryUnavailableException) when (back.Elapsed < TimeSpan.FromSeconds(30))
            {
                // Reconnecting.
            }
        }

        other.Resume();
        await WhenEveryLeaseIsRenewedAsync(store, this.TimeoutToken);

        // The other master kept its lease, its own and its worker's ephemeral keys, and its lock.
        lock (reaped)
        {
            Assert.Empty(reaped);
        }

        // What the store committed, for a failure to tell who removed what.
        await using (var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(store.Configuration))
        {
            foreach (var entry in await redis.GetDatabase().StreamRangeAsync($"{{{store.StoreName}}}:log"))
            {
                output.WriteLine($"{entry.Id}: {string.Join(", ", entry.Values.Select(v => $"{v.Name}={v.Value}"))}");
            }
        }

        Assert.NotNull(await first.Store.GetEntryAsync<int>("held/key/master", this.TimeoutToken));
        Assert.NotNull(await first.Store.GetEntryAsync<string>("held/key", this.TimeoutToken));
        await Assert.ThrowsAsync<TimeoutException>(() => first.Store.AcquireLockAsync("held/lock", TimeSpan.FromMilliseconds(200), this.TimeoutToken).AsTask());
        output.WriteLine($"both leases renewed {back.ElapsedMilliseconds} ms after this master was back");
    }

    /// <summary>
    /// Waits until every master's lease in the store runs out more than 2 s after Redis's clock now: each has renewed
    /// since Redis came back (a lease renewed before the outage ran out by then, or within 1 s of it).
    /// </summary>
    private static async Task WhenEveryLeaseIsRenewedAsync(RedisStoreOptions store, CancellationToken cancellationToken)
    {
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(store.Configuration + ",allowAdmin=true");
        var db = redis.GetDatabase();
        string masters = $"{{{store.StoreName}}}:masters";

        // Each renewal writes the lease hash, and Redis tells of it (keyspace notifications): the leases are read again
        // at each, subscribed before the first read so that none is missed.
        using var written = new SemaphoreSlim(0);
        await db.ExecuteAsync("CONFIG", "SET", "notify-keyspace-events", "Kh");
        await redis.GetSubscriber().SubscribeAsync(StackExchange.Redis.RedisChannel.Literal($"__keyspace@0__:{masters}"), (_, _) => written.Release());
        var started = (long)(await db.ExecuteAsync("TIME"))[0] * 1000;
        while (true)
        {
            var leases = await db.HashGetAllAsync(masters);
            if (leases.Length >= 2 && leases.All(l => (long)l.Value > started + 2000))
            {
                return;
            }

            await written.WaitAsync(cancellationToken);
        }
    }

    private protected override RedisStoreOptions CreateRedisStore() => new()
    {
        Configuration = this.server.Configuration,
        StoreName = "outage",

        // Longer than the outage and the reconnection: the master keeps its lease throughout.
        LeaseTime = TimeSpan.FromSeconds(15),
    };
}
