using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;

namespace Rx.SharedMemory.Tests;

/// <summary>Atomic operations, locks and ephemeral keys across real worker processes.</summary>
public abstract class StoreOperationTests(TestEngine engine) : WorkerProcessTestBase(engine)
{
    [Fact]
    public async Task TwoWorkersIncrementingOneCounter_10000TimesEach_EndAtExactly20000()
    {
        var workers = new[] { await this.SpawnAsync("increment", "counter", "10000"), await this.SpawnAsync("increment", "counter", "10000") };
        foreach (var worker in workers)
        {
            await this.ReportAfterExitAsync(worker);
        }

        Assert.Equal(20_000, await this.Master.Store.GetAsync<long>("counter", this.TimeoutToken));
    }

    [Fact]
    public async Task UpdateAsync_FromTwoWorkers_OnOneJsonObject_LosesNoUpdate()
    {
        const int N = 300;
        var workers = new[] { await this.SpawnAsync("update", "doc", "a", N.ToString()), await this.SpawnAsync("update", "doc", "b", N.ToString()) };
        foreach (var worker in workers)
        {
            await this.ReportAfterExitAsync(worker);
        }

        var doc = await this.Master.Store.GetAsync<Dictionary<string, long>>("doc", this.TimeoutToken);
        Assert.Equal(new Dictionary<string, long> { ["a"] = N, ["b"] = N, ["total"] = 2 * N }, doc);
    }

    [Fact]
    public async Task LockContendedByTwoWorkers_IsNeverHeldByBoth()
    {
        const int Rounds = 200;
        var log = new List<string>();
        var ended = new TaskCompletionSource();
        using var recording = this.Master.Changes.Where(c => c.Key == "locklog").Subscribe(c =>
        {
            var entry = c.GetValue<string>()!;
            lock (log)
            {
                log.Add(entry);
            }

            if (entry == "end")
            {
                ended.TrySetResult();
            }
        });
        var workers = new[] { await this.SpawnAsync("lock", "the-lock", Rounds.ToString()), await this.SpawnAsync("lock", "the-lock", Rounds.ToString()) };
        foreach (var worker in workers)
        {
            await this.ReportAfterExitAsync(worker);
        }

        // The commit order of the log is the global order: every enter is followed by the same worker's exit.
        // Each subscription has a queue of its own: the end marker reaching the recording one means all has.
        await this.Master.Store.SetAsync("locklog", "end", this.TimeoutToken);
        await ended.Task.WaitAsync(this.TimeoutToken);
        string[] entries;
        lock (log)
        {
            entries = [.. log.Where(l => l != "end")];
        }

        Assert.Equal(2 * Rounds * 2, entries.Length);
        for (int i = 0; i < entries.Length; i += 2)
        {
            Assert.StartsWith("enter ", entries[i], StringComparison.Ordinal);
            Assert.Equal("exit " + entries[i]["enter ".Length..], entries[i + 1]);
        }

        Assert.True(entries.Where((_, i) => i % 2 == 0).Distinct().Count() == 2, "both workers held the lock");
    }

    [Fact]
    public async Task WritesMadeUnderALock_CommitBeforeItIsReleased_EvenWhenNotAwaited()
    {
        const int Writes = 1000;
        var holder = await this.SpawnReadyAsync("writes-then-unlock", "the-lock", Writes.ToString());

        // Queued behind the worker; granted when its release arrives.
        var acquiring = this.Master.Store.AcquireLockAsync("the-lock", UnexpectedTimeout, this.TimeoutToken).AsTask();
        await this.Master.Store.SetAsync("go", true, this.TimeoutToken);
        await using (await acquiring)
        {
            Assert.Equal(Writes, await this.Master.Store.GetAsync<int>("guarded", this.TimeoutToken));
        }

        await this.ReportAfterExitAsync(holder);
    }

    [Fact]
    public async Task KilledLockHolder_LetsTheWaiterInPromptly()
    {
        var holder = await this.SpawnReadyAsync("hold", "the-lock");
        var waiter = await this.SpawnReadyAsync("wait-lock", "the-lock");
        var got = this.Master.Changes.FirstAsync(c => c.Key == $"got/{waiter.Worker.Id}").ToTask(this.TimeoutToken);
        Assert.False(got.IsCompleted);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        holder.Worker.Kill();
        await got;
        clock.Stop();

        Assert.True((await this.ReportAfterExitAsync<WaitLockScenario.Report>(waiter)).GotTheLock);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the waiter got the lock {clock.ElapsedMilliseconds} ms after the holder was killed");
    }

    [Fact]
    public async Task EphemeralKey_IsDeletedAndTheDeletionPublished_WhenItsWriterDies()
    {
        var deleted = this.Master.Changes.Where(c => c.Key == "session/1").Replay();
        using var recording = deleted.Connect();
        var writer = await this.SpawnReadyAsync("ephemeral", "session/1");
        Assert.Equal("mine", await this.Master.Store.GetAsync<string>("session/1", this.TimeoutToken));

        writer.Worker.Kill();

        Assert.Equal(KeyChangeKind.Deleted, (await this.FirstAsync(deleted, c => c.Kind != KeyChangeKind.Set)).Kind);
        Assert.Null(await this.Master.Store.GetEntryAsync<JsonElement>("session/1", this.TimeoutToken));
    }

    [Fact]
    public async Task AnIncrementOfMinusZero_CountsFromZero_WithEitherEngine()
    {
        await this.Master.Store.SetAsync("minus-zero", JsonElement.Parse("-0"), this.TimeoutToken);

        var counted = await this.Master.Store.IncrementAsync("minus-zero", 2, this.TimeoutToken);

        Assert.Equal(2, counted.Value);
    }

    [Fact]
    public async Task ALockNameLongerThanMaxKeyLength_IsRefusedThroughTheTask_NamingTheLimit()
    {
        int longest = new SharedMemoryOptions().MaxKeyLength;
        var refused = await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(async () => await this.Master.Store.AcquireLockAsync(new string('n', longest + 1), TimeSpan.Zero, this.TimeoutToken));
        Assert.Equal((nameof(SharedMemoryOptions.MaxKeyLength), (long)longest, (long)longest + 1), (refused.LimitName, refused.Limit, refused.Actual));
        await using var granted = await this.Master.Store.AcquireLockAsync(new string('n', longest), TimeSpan.Zero, this.TimeoutToken);
    }

    [Fact]
    public async Task ANegativeLockTimeout_IsRefusedThroughTheTask_AndLeavesTheLockAsItWas()
    {
        var store = this.Master.Store;
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.AcquireLockAsync("negative/free", TimeSpan.FromSeconds(-5), this.TimeoutToken));
        var held = await store.AcquireLockAsync("negative/held", TimeSpan.Zero, this.TimeoutToken);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await store.AcquireLockAsync("negative/held", TimeSpan.FromSeconds(-5), this.TimeoutToken));
        await held.DisposeAsync();

        // Both free: the refused call queued no waiter that the release would have granted the lock to.
        await using var again = await store.AcquireLockAsync("negative/held", TimeSpan.Zero, this.TimeoutToken);
        await using var free = await store.AcquireLockAsync("negative/free", TimeSpan.Zero, this.TimeoutToken);
    }
}

/// <summary>The same tests with the embedded engine.</summary>
public sealed class StoreOperationTestsInMemory() : StoreOperationTests(TestEngine.Memory);

/// <summary>The same tests with an engine whose answers come later, as a remote engine's do.</summary>
public sealed class StoreOperationTestsDeferred() : StoreOperationTests(TestEngine.Deferred);

/// <summary>The same tests with the store kept in Redis.</summary>
public sealed class StoreOperationTestsRedis() : StoreOperationTests(TestEngine.Redis);
