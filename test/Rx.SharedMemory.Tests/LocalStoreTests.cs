using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Rx.SharedMemory.Tests;

/// <summary>The master's in-process store: the same semantics as a worker's, without a pipe.</summary>
public sealed class LocalStoreTests : TestBase, IAsyncLifetime
{
    private readonly SharedMemoryMaster master = new(new SharedMemoryOptions { ChangeLogCapacity = 8 });

    private ISharedStore Store => this.master.Store;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => this.master.DisposeAsync().AsTask();

    [Fact]
    public async Task Observe_DeliversCurrentStateThenChanges()
    {
        await this.Store.SetAsync("a", 1, this.TimeoutToken);
        var changes = this.Store.Observe("a").Take(3).ToArray().ToTask(this.TimeoutToken);
        await this.Store.SetAsync("b", 0, this.TimeoutToken);
        await this.Store.SetAsync("a", 2, this.TimeoutToken);
        await this.Store.DeleteAsync("a", this.TimeoutToken);

        var seen = await changes;
        Assert.Equal([KeyChangeKind.Reset, KeyChangeKind.Set, KeyChangeKind.Deleted], seen.Select(c => c.Kind));
        Assert.Equal([1L, 3, 4], seen.Select(c => c.Version));
        Assert.Equal(2, seen[1].GetValue<int>());
        Assert.False(seen[2].HasValue);
    }

    [Fact]
    public async Task Observe_FromVersionInsideTheLog_ReplaysExactlyTheMissedChanges()
    {
        long from = await this.Store.SetAsync("a", 1, this.TimeoutToken);
        await this.Store.SetAsync("a", 2, this.TimeoutToken);
        await this.Store.SetAsync("other", 0, this.TimeoutToken);
        await this.Store.SetAsync("a", 3, this.TimeoutToken);
        var changes = this.Store.Observe("a", fromVersion: from).Take(3).ToArray().ToTask(this.TimeoutToken);
        await this.Store.SetAsync("a", 4, this.TimeoutToken);

        var seen = await changes;
        Assert.All(seen, c => Assert.Equal(KeyChangeKind.Set, c.Kind));
        Assert.Equal([2, 3, 4], seen.Select(c => c.GetValue<int>()));
    }

    [Fact]
    public async Task Observe_FromVersionOlderThanTheLog_GetsResetThenLive()
    {
        await this.Store.SetAsync("a", 0, this.TimeoutToken);
        for (int i = 1; i <= 20; i++)
        {
            await this.Store.SetAsync("a", i, this.TimeoutToken);
        }

        var changes = this.Store.Observe("a", fromVersion: 1).Take(2).ToArray().ToTask(this.TimeoutToken);
        await this.Store.SetAsync("a", 21, this.TimeoutToken);

        var seen = await changes;
        Assert.Equal(KeyChangeKind.Reset, seen[0].Kind);
        Assert.Equal(20, seen[0].GetValue<int>());
        Assert.Equal(21, seen[0].Version);
        Assert.Equal((KeyChangeKind.Set, 21), (seen[1].Kind, seen[1].GetValue<int>()));
    }

    [Fact]
    public async Task ObservePrefix_SeesOnlyKeysUnderThePrefix()
    {
        await this.Store.SetAsync("jobs/1", "old", this.TimeoutToken);
        await this.Store.SetAsync("other", 0, this.TimeoutToken);
        var changes = this.Store.ObservePrefix("jobs/").Take(4).ToArray().ToTask(this.TimeoutToken);
        await this.Store.SetAsync("jobsx", 0, this.TimeoutToken);
        await this.Store.SetAsync("jobs/2", "new", this.TimeoutToken);
        await this.Store.DeleteAsync("jobs/1", this.TimeoutToken);

        var seen = await changes;
        Assert.Equal([("jobs/", KeyChangeKind.PrefixReset), ("jobs/1", KeyChangeKind.Reset), ("jobs/2", KeyChangeKind.Set), ("jobs/1", KeyChangeKind.Deleted)], seen.Select(c => (c.Key, c.Kind)));
    }

    [Fact]
    public async Task ObserverThatWritesToTheStore_DoesNotDeadlock()
    {
        var echoed = this.Store.Observe("echo").Where(c => c.Kind == KeyChangeKind.Set).FirstAsync().ToTask(this.TimeoutToken);

        // Synchronous waits inside OnNext: observers never run under the store's lock.
        using var subscription = this.Store.Observe("ping").Where(c => c.Kind == KeyChangeKind.Set)
#pragma warning disable VSTHRD002 // The synchronous wait is what this test proves safe.
            .Subscribe(c => this.Store.SetAsync("echo", c.GetValue<int>() + 1).AsTask().GetAwaiter().GetResult());
#pragma warning restore VSTHRD002
        await this.Store.SetAsync("ping", 41, this.TimeoutToken);

        Assert.Equal(42, (await echoed).GetValue<int>());
    }

    [Fact]
    public async Task ThrowingObserver_NeverReachesTheWriter_AndOthersStillReceive()
    {
        using var bad = this.Store.Observe("a").Subscribe(_ => throw new InvalidOperationException("observer bug"));
        var good = this.Store.Observe("a").Where(c => c.Kind == KeyChangeKind.Set).Take(2).ToArray().ToTask(this.TimeoutToken);

        await this.Store.SetAsync("a", 1, this.TimeoutToken);
        await this.Store.SetAsync("a", 2, this.TimeoutToken);

        Assert.Equal([1, 2], (await good).Select(c => c.GetValue<int>()));
    }

    [Fact]
    public async Task DisposedMaster_CompletesObservables_AndRefusesCalls()
    {
        // The starting state (absent) first, then the dispose: the stream completes after it, with nothing more.
        var changes = this.Store.Observe("a").Replay();
        using var recording = changes.Connect();
        await changes.FirstAsync().ToTask(this.TimeoutToken);
        await this.master.DisposeAsync();

        var all = await changes.ToArray().ToTask(this.TimeoutToken);
        Assert.Equal([KeyChangeKind.Reset], all.Select(c => c.Kind));
        Assert.False(all[0].Exists);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => this.Store.SetAsync("a", 1).AsTask());
    }

    [Fact]
    public async Task DisposedMaster_FailsLaterSubscriptions_WithObjectDisposed_AsItFailsCalls()
    {
        await this.master.DisposeAsync();

        foreach (var source in new[] { this.Store.Observe("a"), this.Store.ObservePrefix("p/"), this.master.Changes, this.master.ObserveChanges() })
        {
            var error = await Assert.ThrowsAsync<ObjectDisposedException>(() => source.ToArray().ToTask(this.TimeoutToken));
            Assert.Equal(typeof(SharedMemoryMaster).FullName, error.ObjectName);
        }

        await Assert.ThrowsAsync<ObjectDisposedException>(async () =>
        {
            await foreach (var change in this.Store.WatchAsync("a", cancellationToken: this.TimeoutToken))
            {
                Assert.Fail($"A change came from a disposed master: {change}");
            }
        });
        await Assert.ThrowsAsync<ObjectDisposedException>(() => this.Store.MirrorAsync("p/", this.TimeoutToken));
        Assert.Equal(0, this.master.SubscriptionCount);
    }

    [Fact]
    public async Task WatchAsync_EnumeratesCurrentStateThenChanges_AndCancellationEndsTheSubscription()
    {
        await this.Store.SetAsync("a", 1, this.TimeoutToken);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(this.TimeoutToken);
        var seen = new List<KeyChange>();
        int baseline = this.master.SubscriptionCount;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var change in this.Store.WatchAsync("a", cancellationToken: stop.Token))
            {
                seen.Add(change);
                if (seen.Count < 3)
                {
                    await this.Store.SetAsync("a", seen.Count + 1, this.TimeoutToken);
                }
                else
                {
                    Assert.Equal(baseline + 1, this.master.SubscriptionCount);
                    await stop.CancelAsync();
                }
            }
        });

        Assert.Equal([(KeyChangeKind.Reset, 1), (KeyChangeKind.Set, 2), (KeyChangeKind.Set, 3)], seen.Select(c => (c.Kind, c.GetValue<int>())));
        Assert.Equal(baseline, this.master.SubscriptionCount);
    }

    [Fact]
    public async Task WatchPrefixAsync_SlowConsumer_LosesNoVersionUncounted_AndEndsWithTheLatestValues()
    {
        const int Writes = 1_000;
        await using var enumerator = this.Store.WatchPrefixAsync("k/", bufferCapacity: 4, cancellationToken: this.TimeoutToken).GetAsyncEnumerator();
        Assert.True(await enumerator.MoveNextAsync());
        Assert.Equal(KeyChangeKind.PrefixReset, enumerator.Current.Kind);

        // Nothing is pulled while these are written.
        for (int i = 1; i <= Writes; i++)
        {
            await this.Store.SetAsync($"k/{i % 3}", i, this.TimeoutToken);
        }

        await this.Store.SetAsync("k/end", true, this.TimeoutToken);
        var latest = new Dictionary<string, int>();
        long delivered = 0;
        long skipped = 0;
        while (await enumerator.MoveNextAsync() && enumerator.Current.Key != "k/end")
        {
            latest[enumerator.Current.Key] = enumerator.Current.GetValue<int>();
            delivered++;
            skipped += enumerator.Current.SkippedVersions;
        }

        // How much was conflated depends on how far delivery got before the consumer pulled; nothing is lost either way.
        Assert.Equal(Writes, delivered + skipped);
        Assert.Equal(new Dictionary<string, int> { ["k/0"] = 999, ["k/1"] = 1000, ["k/2"] = 998 }, latest);
    }

    [Fact]
    public async Task ANullJsonTypeInfoOrStore_FailsThroughTheTask_NeverWhereTheCallIsMade()
    {
        var intInfo = (JsonTypeInfo<int>)JsonSerializerOptions.Default.GetTypeInfo(typeof(int));
        var getting = this.Store.GetEntryAsync("k", (JsonTypeInfo<int>)null!, this.TimeoutToken);
        var updating = this.Store.UpdateAsync("k", x => x + 1, (JsonTypeInfo<int>)null!, cancellationToken: this.TimeoutToken);
        var onNoStore = SharedStoreUpdates.UpdateAsync<int>(null!, "k", x => x + 1, cancellationToken: this.TimeoutToken);
        var onNoStoreTyped = SharedStoreUpdates.UpdateAsync(null!, "k", x => x + 1, intInfo, cancellationToken: this.TimeoutToken);

        Assert.Equal("jsonTypeInfo", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await getting)).ParamName);
        Assert.Equal("jsonTypeInfo", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await updating)).ParamName);
        Assert.Equal("store", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await onNoStore)).ParamName);
        Assert.Equal("store", (await Assert.ThrowsAsync<ArgumentNullException>(async () => await onNoStoreTyped)).ParamName);
    }

    /// <summary>A cancelled watch ends at its next step, though changes wait for it: a slow consumer always has some.</summary>
    [Fact]
    public async Task WatchPrefixAsync_Cancelled_EndsAtTheNextStep_WithChangesWaiting()
    {
        using var cancel = new CancellationTokenSource();
        await using var enumerator = this.Store.WatchPrefixAsync("c/", bufferCapacity: 2_000, cancellationToken: cancel.Token).GetAsyncEnumerator(this.TimeoutToken);
        Assert.True(await enumerator.MoveNextAsync());
        // Many, so that changes still wait when the watch is cancelled (they reach its buffer on their own thread).
        for (int i = 0; i < 1_000; i++)
        {
            await this.Store.SetAsync($"c/{i}", i, this.TimeoutToken);
        }

        Assert.True(await enumerator.MoveNextAsync());
        Assert.Equal("c/0", enumerator.Current.Key);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await enumerator.MoveNextAsync());
    }

    /// <summary>A deletion conflated into a change still waiting for a slow consumer has no value, as any deletion.</summary>
    [Fact]
    public async Task WatchAsync_ADeletionConflatedIntoAWaitingChange_HasNoValue()
    {
        await using var enumerator = this.Store.WatchAsync("d", bufferCapacity: 1, cancellationToken: this.TimeoutToken).GetAsyncEnumerator();
        Assert.True(await enumerator.MoveNextAsync());
        int conflated = 0;
        for (int round = 1; round <= 20; round++)
        {
            // Nothing is pulled while these are written: the buffer of one holds the first, the others merge into it.
            await this.Store.SetAsync("d", round, this.TimeoutToken);
            await this.Store.SetAsync("d", -round, this.TimeoutToken);
            Assert.True(await this.Store.DeleteAsync("d", this.TimeoutToken));
            KeyChange change;
            do
            {
                Assert.True(await enumerator.MoveNextAsync());
                change = enumerator.Current;
            }
            while (change.Kind != KeyChangeKind.Deleted);

            Assert.False(change.HasValue, $"round {round}: {change}, {change.SkippedVersions} skipped");
            Assert.False(change.Exists);
            conflated += change.SkippedVersions > 0 ? 1 : 0;
        }

        Assert.True(conflated > 0, "No deletion was conflated: the test did not reach the case it is for.");
    }

    [Fact]
    public async Task ObservePrefix_LongerThanMaxKeyLength_EndsWithTheLimitError_AndLeavesNothingRegistered()
    {
        int baseline = this.master.SubscriptionCount;
        var error = await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(() => this.Store.ObservePrefix(new string('p', 2_000)).ToTask(this.TimeoutToken));

        Assert.Equal(nameof(SharedMemoryOptions.MaxKeyLength), error.LimitName);
        Assert.Equal(baseline, this.master.SubscriptionCount);
    }

    [Fact]
    public async Task TypedCalls_WithATypeWithoutAContract_OrNullOptions_FailThroughTheirTasks_NamingTheKey()
    {
        // Each call made directly, its task kept: a throw at the call site would end the test here.
        var set = this.Store.SetAsync("collide", new Collide(), this.TimeoutToken);
        var entry = this.Store.GetEntryAsync<Collide>("collide", this.TimeoutToken);
        var compareAndSet = this.Store.CompareAndSetAsync("collide", 0, new Collide(), null, this.TimeoutToken);
        var withNullOptions = this.Store.SetAsync("k", 1, (System.Text.Json.JsonSerializerOptions)null!, null, this.TimeoutToken);
        var readWithNullOptions = this.Store.GetEntryAsync<int>("k", (System.Text.Json.JsonSerializerOptions)null!, this.TimeoutToken);

        Assert.StartsWith("Key 'collide': a value of type", (await Assert.ThrowsAsync<InvalidOperationException>(() => set.AsTask())).Message, StringComparison.Ordinal);
        Assert.StartsWith("Key 'collide': its value cannot be read as", (await Assert.ThrowsAsync<InvalidOperationException>(() => entry.AsTask())).Message, StringComparison.Ordinal);
        Assert.StartsWith("Key 'collide': a value of type", (await Assert.ThrowsAsync<InvalidOperationException>(() => compareAndSet.AsTask())).Message, StringComparison.Ordinal);
        Assert.Equal("options", (await Assert.ThrowsAsync<ArgumentNullException>(() => withNullOptions.AsTask())).ParamName);
        Assert.Equal("options", (await Assert.ThrowsAsync<ArgumentNullException>(() => readWithNullOptions.AsTask())).ParamName);
        Assert.Equal(0, this.master.Version);
    }

    [Fact]
    public void InvalidOptions_AreRefused_NamingTheSetting()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SharedMemoryMaster(new SharedMemoryOptions { ChangeLogCapacity = 0 }));
        Assert.Contains("SharedMemoryOptions.ChangeLogCapacity", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Two properties of one JSON name: System.Text.Json refuses the type itself.</summary>
    private sealed class Collide
    {
        [System.Text.Json.Serialization.JsonPropertyName("x")]
        public int A { get; set; }

        [System.Text.Json.Serialization.JsonPropertyName("x")]
        public int B { get; set; }
    }
}
