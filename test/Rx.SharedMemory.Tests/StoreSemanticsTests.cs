using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;

namespace Rx.SharedMemory.Tests;

/// <summary>Store semantics through the master's in-process API (the same code serves workers), for every engine.</summary>
public abstract class StoreSemanticsTests(TestEngine engine) : TestBase
{
    [Fact]
    public async Task CompareAndSet_WinsOnlyAtTheExpectedVersion_AndZeroMeansAbsent()
    {
        await using var master = await this.StartMasterAsync(engine);
        var store = master.Store;

        var created = await store.CompareAndSetAsync("k", 0, "first", cancellationToken: this.TimeoutToken);
        var again = await store.CompareAndSetAsync("k", 0, "second", cancellationToken: this.TimeoutToken);
        var stale = await store.CompareAndSetAsync("k", created.Version - 1, "third", cancellationToken: this.TimeoutToken);
        var won = await store.CompareAndSetAsync("k", created.Version, "fourth", cancellationToken: this.TimeoutToken);

        Assert.Equal(new CompareAndSetResult(true, 1), created);
        Assert.Equal(new CompareAndSetResult(false, 1), again);
        Assert.Equal(new CompareAndSetResult(false, 1), stale);
        Assert.Equal(new CompareAndSetResult(true, 2), won);
        Assert.Equal("fourth", await store.GetAsync<string>("k", this.TimeoutToken));
        Assert.Equal(2, master.Version);
    }

    [Fact]
    public async Task Increment_AddsToIntegers_StartsAbsentKeysAtZero_AndRefusesOtherValues()
    {
        await using var master = await this.StartMasterAsync(engine);
        var store = master.Store;

        Assert.Equal(5, (await store.IncrementAsync("n", 5, this.TimeoutToken)).Value);
        Assert.Equal(3, (await store.IncrementAsync("n", -2, this.TimeoutToken)).Value);
        await store.SetAsync("s", "text", this.TimeoutToken);
        await store.SetAsync("big", long.MaxValue, this.TimeoutToken);

        var notANumber = await Assert.ThrowsAsync<InvalidOperationException>(() => store.IncrementAsync("s", 1, this.TimeoutToken).AsTask());
        Assert.Contains("'s'", notANumber.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.IncrementAsync("big", 1, this.TimeoutToken).AsTask());
        Assert.Equal(long.MaxValue, await store.GetAsync<long>("big", this.TimeoutToken));
    }

    [Fact]
    public async Task UpdateAsync_GivesUpWithVersionConflict_WhenItAlwaysLoses()
    {
        await using var master = await this.StartMasterAsync(engine);
        var store = master.Store;
        await store.SetAsync("k", 0, this.TimeoutToken);

        // Another writer gets in between every read and write.
        var error = await Assert.ThrowsAsync<SharedMemoryVersionConflictException>(() => store.UpdateAsync<int>("k", v =>
        {
#pragma warning disable VSTHRD002 // The master's store completes synchronously; the rival write must land inside the update.
            store.IncrementAsync("k", 1).AsTask().Wait();
#pragma warning restore VSTHRD002
            return v + 100;
        }, maxAttempts: 3, cancellationToken: this.TimeoutToken).AsTask());

        Assert.Equal(("k", 3), (error.Key, error.Attempts));
        Assert.Equal(3, await store.GetAsync<int>("k", this.TimeoutToken));
    }

    [Fact]
    public async Task TimeToLive_RemovesTheKeyByTimer_AndPublishesExpired_AndALaterPlainWriteClearsIt()
    {
        await using var master = await this.StartMasterAsync(engine);
        var store = master.Store;
        var expired = master.Changes.FirstAsync(c => c.Kind == KeyChangeKind.Expired).ToTask(this.TimeoutToken);
        await store.SetAsync("short", 1, new SetOptions { TimeToLive = TimeSpan.FromMilliseconds(50) }, this.TimeoutToken);
        await store.SetAsync("kept", 1, new SetOptions { TimeToLive = TimeSpan.FromMilliseconds(50) }, this.TimeoutToken);
        await store.SetAsync("kept", 2, this.TimeoutToken);

        var change = await expired;

        Assert.Equal("short", change.Key);
        Assert.False(change.HasValue);
        Assert.Null(await store.GetEntryAsync<int>("short", this.TimeoutToken));
        Assert.Equal(2, await store.GetAsync<int>("kept", this.TimeoutToken));
    }

    [Fact]
    public async Task EvictionByEntries_RemovesExactlyTheLeastRecentlyUsed_PublishingEach()
    {
        await using var master = await this.StartMasterAsync(engine, new SharedMemoryOptions { MaxEntries = 3 });
        var store = master.Store;
        var evicted = master.Changes.Where(c => c.Kind == KeyChangeKind.Evicted).Select(c => c.Key).Replay();
        using var recording = evicted.Connect();
        await store.SetAsync("a", 1, this.TimeoutToken);
        await store.SetAsync("b", 1, this.TimeoutToken);
        await store.SetAsync("c", 1, this.TimeoutToken);
        await store.GetAsync<int>("a", this.TimeoutToken);
        await store.SetAsync("c", 2, this.TimeoutToken);

        await store.SetAsync("d", 1, this.TimeoutToken);
        await store.SetAsync("e", 1, this.TimeoutToken);

        Assert.Equal(["b", "a"], await evicted.Take(2).ToArray().ToTask(this.TimeoutToken));
        Assert.Equal(3, master.Count);
        foreach (var key in new[] { "c", "d", "e" })
        {
            Assert.NotNull(await store.GetEntryAsync<int>(key, this.TimeoutToken));
        }
    }

    [Fact]
    public async Task EvictionByBytes_RemovesLeastRecentlyUsedUntilTheWriteFits()
    {
        // Each key costs 1 byte and each value 10 ("12345678" with its quotes): 11 bytes a key.
        await using var master = await this.StartMasterAsync(engine, new SharedMemoryOptions { MaxBytes = 35 });
        var store = master.Store;
        var evicted = master.Changes.Where(c => c.Kind == KeyChangeKind.Evicted).Select(c => c.Key).Replay();
        using var recording = evicted.Connect();
        foreach (var key in new[] { "a", "b", "c" })
        {
            await store.SetAsync(key, "12345678", this.TimeoutToken);
        }

        Assert.Equal(33, master.Bytes);
        await store.GetAsync<string>("a", this.TimeoutToken);
        await store.SetAsync("d", "1234567890123456", this.TimeoutToken);

        Assert.Equal(["b", "c"], await evicted.Take(2).ToArray().ToTask(this.TimeoutToken));
        Assert.Equal(11 + 19, master.Bytes);
        var oversized = await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(() => store.SetAsync("z", new string('x', 40), this.TimeoutToken).AsTask());
        Assert.Equal(("z", nameof(SharedMemoryOptions.MaxBytes)), (oversized.Key, oversized.LimitName));
    }

    [Fact]
    public async Task NoEviction_RefusesTheWrite_NamingTheLimit_AndKeepsEverything()
    {
        await using var master = await this.StartMasterAsync(engine, new SharedMemoryOptions { MaxEntries = 2, EvictionPolicy = EvictionPolicy.NoEviction });
        var store = master.Store;
        await store.SetAsync("a", 1, this.TimeoutToken);
        await store.SetAsync("b", 1, this.TimeoutToken);

        var error = await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(() => store.SetAsync("c", 1, this.TimeoutToken).AsTask());
        await store.SetAsync("a", 2, this.TimeoutToken);

        Assert.Equal(("c", nameof(SharedMemoryOptions.MaxEntries), 2L, 3L), (error.Key, error.LimitName, error.Limit, error.Actual));
        Assert.Equal(2, master.Count);
        Assert.Equal(2, await store.GetAsync<int>("a", this.TimeoutToken));
    }

    [Fact]
    public async Task ResumeFromAVersionPastTheStore_GetsAResetOfTheCurrentState()
    {
        // A version the store never reached (a replica promoted before it had every write): the state, not silence.
        await using var master = await this.StartMasterAsync(engine);
        await master.Store.SetAsync("k", 7, this.TimeoutToken);

        var first = await master.Store.Observe("k", fromVersion: 1_000_000).FirstAsync().ToTask(this.TimeoutToken);

        Assert.Equal((KeyChangeKind.Reset, 7), (first.Kind, first.GetValue<int>()));
    }

    [Fact]
    public async Task ResumeFromZero_ReplaysTheWholeHistory_OfAKeyAndOfAPrefix()
    {
        await using var master = await this.StartMasterAsync(engine);
        var store = master.Store;
        await store.SetAsync("a/1", 1, this.TimeoutToken);
        await store.SetAsync("a/2", 2, this.TimeoutToken);
        await store.SetAsync("b", 3, this.TimeoutToken);
        await store.DeleteAsync("a/1", this.TimeoutToken);
        await store.SetAsync("a/2", 5, this.TimeoutToken);

        var key = await store.Observe("a/1", fromVersion: 0).Take(2).ToList().ToTask(this.TimeoutToken);
        var prefix = await store.ObservePrefix("a/", fromVersion: 0).Take(4).ToList().ToTask(this.TimeoutToken);

        Assert.Equal([(KeyChangeKind.Set, "a/1", 1L), (KeyChangeKind.Deleted, "a/1", 4L)], key.Select(c => (c.Kind, c.Key, c.Version)));
        Assert.Equal(
            [(KeyChangeKind.Set, "a/1", 1L), (KeyChangeKind.Set, "a/2", 2L), (KeyChangeKind.Deleted, "a/1", 4L), (KeyChangeKind.Set, "a/2", 5L)],
            prefix.Select(c => (c.Kind, c.Key, c.Version)));
    }

    /// <summary>A key of exactly the limit is taken and one unit more refused, a surrogate pair counting two; a value alike, by its JSON's bytes.</summary>
    [Fact]
    public async Task KeysAndValuesAtTheirLimits_AreTaken_AndOneMore_IsRefusedNamingTheLimit()
    {
        await using var master = await this.StartMasterAsync(engine, new SharedMemoryOptions { MaxKeyLength = 8, MaxValueBytes = 16 });
        var store = master.Store;

        await store.SetAsync("abcdefgh", 1, this.TimeoutToken);
        await store.SetAsync("abcdef\ud83d\ude00", 1, this.TimeoutToken);
        await store.SetAsync("v", new string('x', 14), this.TimeoutToken);
        await store.SetAsync("bytes", new byte[9], this.TimeoutToken);

        foreach (var (write, limitName, actual) in new (Func<Task>, string, long)[]
        {
            (() => store.SetAsync("abcdefghi", 1, this.TimeoutToken).AsTask(), nameof(SharedMemoryOptions.MaxKeyLength), 9),
            (() => store.SetAsync("abcdefg\ud83d\ude00", 1, this.TimeoutToken).AsTask(), nameof(SharedMemoryOptions.MaxKeyLength), 9),
            (() => store.SetAsync("v", new string('x', 15), this.TimeoutToken).AsTask(), nameof(SharedMemoryOptions.MaxValueBytes), 17),
            (() => store.SetAsync("bytes", new byte[10], this.TimeoutToken).AsTask(), nameof(SharedMemoryOptions.MaxValueBytes), 18),
        })
        {
            var error = await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(write);
            Assert.Equal((limitName, actual), (error.LimitName, error.Actual));
        }

        Assert.Equal(new string('x', 14), await store.GetAsync<string>("v", this.TimeoutToken));
        Assert.Equal(new byte[9], await store.GetAsync<byte[]>("bytes", this.TimeoutToken));
    }

    /// <summary>A lock wait too long for the clock (<see cref="TimeSpan.MaxValue"/>) is a wait without end, granted once the lock is free.</summary>
    [Fact]
    public async Task ALockWaitOfTimeSpanMaxValue_IsKept_AndGrantedOnRelease()
    {
        await using var master = await this.StartMasterAsync(engine);
        var store = master.Store;
        var first = await store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);

        var waiting = store.AcquireLockAsync("l", TimeSpan.MaxValue, this.TimeoutToken).AsTask();
        var behind = store.AcquireLockAsync("l", TimeSpan.FromMilliseconds(1), this.TimeoutToken).AsTask();
        await Assert.ThrowsAsync<TimeoutException>(() => behind);
        Assert.False(waiting.IsCompleted);
        await first.DisposeAsync();

        await using var granted = await waiting.WaitAsync(this.TimeoutToken);
    }

    [Fact]
    public async Task Lock_ServesWaitersInOrder_AndTimesOut()
    {
        await using var master = await this.StartMasterAsync(engine);
        var store = master.Store;
        var first = await store.AcquireLockAsync("l", TimeSpan.FromSeconds(30), this.TimeoutToken);
        var order = new List<int>();
        var waiters = Enumerable.Range(1, 3).Select(async i =>
        {
            await using var held = await store.AcquireLockAsync("l", TimeSpan.FromSeconds(30), this.TimeoutToken);
            lock (order)
            {
                order.Add(i);
            }
        }).ToArray();

        var timedOut = await Assert.ThrowsAsync<TimeoutException>(() => store.AcquireLockAsync("l", TimeSpan.FromMilliseconds(1), this.TimeoutToken).AsTask());
        await first.DisposeAsync();
        await first.DisposeAsync();
        await Task.WhenAll(waiters).WaitAsync(this.TimeoutToken);

        Assert.Equal([1, 2, 3], order);
        Assert.Contains("'l'", timedOut.Message, StringComparison.Ordinal);
    }
}

/// <summary>The contract with the embedded engine.</summary>
public sealed class StoreSemanticsTestsInMemory() : StoreSemanticsTests(TestEngine.Memory);

/// <summary>The contract with the store kept in Redis.</summary>
public sealed class StoreSemanticsTestsRedis() : StoreSemanticsTests(TestEngine.Redis);

/// <summary>What only the embedded engine has: settings checked at start, and the master's own clock.</summary>
public sealed class StoreOptionsTests : TestBase
{
    [Theory]
    [InlineData(nameof(SharedMemoryOptions.MaxEntries))]
    [InlineData(nameof(SharedMemoryOptions.MaxBytes))]
    [InlineData(nameof(SharedMemoryOptions.SubscriberQueueCapacity))]
    [InlineData(nameof(SharedMemoryOptions.WorkerStartTimeout))]
    [InlineData(nameof(SharedMemoryOptions.EvictionPolicy))]
    public void InvalidOption_IsRefusedAtStart_NamingTheSetting(string setting)
    {
        var options = new SharedMemoryOptions();
        switch (setting)
        {
            case nameof(SharedMemoryOptions.MaxEntries): options.MaxEntries = 0; break;
            case nameof(SharedMemoryOptions.MaxBytes): options.MaxBytes = -1; break;
            case nameof(SharedMemoryOptions.SubscriberQueueCapacity): options.SubscriberQueueCapacity = 0; break;
            case nameof(SharedMemoryOptions.WorkerStartTimeout): options.WorkerStartTimeout = TimeSpan.Zero; break;
            case nameof(SharedMemoryOptions.EvictionPolicy): options.EvictionPolicy = (EvictionPolicy)42; break;
        }

        var error = Assert.ThrowsAny<ArgumentException>(() => new SharedMemoryMaster(options));
        Assert.Contains($"SharedMemoryOptions.{setting}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExpiredKeyReadBeforeTheTimer_IsAlreadyGone()
    {
        var clock = new ManualClock();
        await using var master = new SharedMemoryMaster(new SharedMemoryOptions { TimeProvider = clock }); // the embedded engine only
        await master.Store.SetAsync("k", 1, new SetOptions { TimeToLive = TimeSpan.FromSeconds(10) }, this.TimeoutToken);
        var expired = master.Changes.FirstAsync().ToTask(this.TimeoutToken);

        clock.Advance(TimeSpan.FromSeconds(11));

        Assert.Null(await master.Store.GetEntryAsync<JsonElement>("k", this.TimeoutToken));
        Assert.Equal(KeyChangeKind.Expired, (await expired).Kind);
    }

    /// <summary>A clock that moves only when told, and whose timers never fire on their own.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => this.now;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new IdleTimer();

        public void Advance(TimeSpan by) => this.now += by;

        private sealed class IdleTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => default;
        }
    }
}
