using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using System.Text;
using System.Text.Json;
using Nerdbank.Streams;
using Rx.SharedMemory.Mirror;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>How a mirror applies its stream and this process's own writes, driven change by change in process.</summary>
public sealed class MirrorStateTests : TestBase
{
    [Fact]
    public async Task MirrorAsync_RefusedByTheStore_FailsWithTheRefusal_NotAsALostMaster()
    {
        var store = new StreamStore();
        var starting = store.MirrorAsync("p/", this.TimeoutToken);
        var refusal = new SharedMemoryLimitExceededException("p/", nameof(SharedMemoryOptions.MaxSubscriptionsPerConnection), 4, 5);

        store.Fail(refusal);

        Assert.Same(refusal, await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(() => starting));
    }

    [Fact]
    public async Task MirrorAsync_OfAPrefixThatIsNotValidUtf16_FailsWithArgumentException()
    {
        await using var master = new SharedMemoryMaster();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => master.Store.MirrorAsync("p/\ud800", this.TimeoutToken));
        Assert.Equal("prefix", error.ParamName);
    }

    [Fact]
    public async Task FirstReadsOfOneVersion_ParsingAtOnce_GetOneInstance_AndSoDoesEveryLaterRead()
    {
        var store = new StreamStore();
        using var mirror = await this.StartAsync(store, ("p/k", 1, "7"));
        using var bothParsing = new Barrier(2);
        var contract = ParsedAtOnce.Contract(bothParsing);

        // Both are inside the parse before either publishes what it parsed.
        var firstReads = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            Assert.True(mirror.TryGet("p/k", contract, out var value));
            return value;
        })));

        Assert.Same(firstReads[0], firstReads[1]);
        Assert.True(mirror.TryGet("p/k", contract, out var later));
        Assert.Same(firstReads[0], later);
    }

    /// <summary>A value whose parse waits for a second parse of it to start, so that two readers parse at once.</summary>
    private sealed record ParsedAtOnce(int Value)
    {
        public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<ParsedAtOnce> Contract(Barrier bothParsing)
        {
            var options = new JsonSerializerOptions { Converters = { new Converter(bothParsing) }, TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver() };
            return (System.Text.Json.Serialization.Metadata.JsonTypeInfo<ParsedAtOnce>)options.GetTypeInfo(typeof(ParsedAtOnce));
        }

        private sealed class Converter(Barrier bothParsing) : System.Text.Json.Serialization.JsonConverter<ParsedAtOnce>
        {
            public override ParsedAtOnce Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
            {
                var value = new ParsedAtOnce(reader.GetInt32());
                bothParsing.SignalAndWait(TimeSpan.FromSeconds(30)); // a parse after the first two finds no partner: it goes on
                return value;
            }

            public override void Write(Utf8JsonWriter writer, ParsedAtOnce value, JsonSerializerOptions options) => writer.WriteNumberValue(value.Value);
        }
    }

    [Fact]
    public async Task MirrorAsync_CompletesOnceTheWholeStateHasArrived_ThoughNoChangeFollowsIt()
    {
        var store = new StreamStore();
        var starting = store.MirrorAsync("p/", this.TimeoutToken);
        store.Send(Change("p/", KeyChangeKind.PrefixReset, 10, stateCount: 2));
        store.Send(Change("p/a", KeyChangeKind.Reset, 3, "1"));
        Assert.False(starting.IsCompleted);

        store.Send(Change("p/b", KeyChangeKind.Reset, 7, "2"));
        using var mirror = await starting.WaitAsync(this.TimeoutToken);

        Assert.Equal((10, 2), (mirror.Version, mirror.Count));
        Assert.Equal(["p/a", "p/b"], mirror.Keys.Order(StringComparer.Ordinal));
        Assert.True(mirror.TryGetEntry<int>("p/b", out var b));
        Assert.Equal(new StoreEntry<int>(2, 7), b);
    }

    [Fact]
    public async Task PrefixResetMidStream_RemovesTheKeysItDoesNotList_AndKeepsAnOwnWriteNewerThanIt()
    {
        var store = new StreamStore();
        using var mirror = await this.StartAsync(store, ("p/a", 3, "1"), ("p/b", 4, "2"));
        var seen = new List<KeyChange>();
        using var watch = mirror.Subscribe(seen.Add);
        store.Send(Change("p/c", KeyChangeKind.Set, 6, "3"));
        store.Own.Begin("p/d");
        store.Own.Set("p/d", "4"u8.ToArray(), 9);

        // The store's state at 8 (a resume past its log, or a reader that fell behind it): only p/a, rewritten.
        store.Send(Change("p/", KeyChangeKind.PrefixReset, 8, stateCount: 1));
        store.Send(Change("p/a", KeyChangeKind.Reset, 7, "5"));

        Assert.Equal(["p/a", "p/d"], mirror.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((8, 2), (mirror.Version, mirror.Count));
        Assert.True(mirror.TryGet<int>("p/a", out int a) && a == 5);
        Assert.False(mirror.TryGet<int>("p/b", out _));
        Assert.Equal([KeyChangeKind.Set, KeyChangeKind.PrefixReset, KeyChangeKind.Reset], seen.Select(c => c.Kind));
    }

    [Fact]
    public async Task OwnWrite_IsReadAtOnce_AndAnOlderChangeOfTheStreamDoesNotUndoIt()
    {
        var store = new StreamStore();
        using var mirror = await this.StartAsync(store, ("p/k", 1, "1"));

        Assert.True(store.Own.Begin("p/k"));
        store.Own.Set("p/k", "5"u8.ToArray(), 10);
        Assert.Equal(new StoreEntry<int>(5, 10), Entry(mirror, "p/k"));
        Assert.Equal(2, mirror.Version);

        store.Send(Change("p/k", KeyChangeKind.Set, 8, "3"));
        Assert.Equal(new StoreEntry<int>(5, 10), Entry(mirror, "p/k"));
        store.Send(Change("p/k", KeyChangeKind.Set, 11, "7"));
        Assert.Equal(new StoreEntry<int>(7, 11), Entry(mirror, "p/k"));
        Assert.False(store.Own.Begin("q/k"));
    }

    [Fact]
    public async Task OwnDelete_HidesTheKey_AndAnOlderSetOfTheStreamDoesNotBringItBack()
    {
        var store = new StreamStore();
        using var mirror = await this.StartAsync(store, ("p/k", 1, "1"));

        store.Own.Begin("p/k");
        store.Own.Deleted("p/k", 5);
        Assert.Null(Entry(mirror, "p/k"));
        store.Send(Change("p/k", KeyChangeKind.Set, 4, "2"));
        Assert.Null(Entry(mirror, "p/k"));
        store.Send(Change("p/k", KeyChangeKind.Deleted, 5));
        store.Send(Change("p/k", KeyChangeKind.Set, 6, "3"));
        Assert.Equal(new StoreEntry<int>(3, 6), Entry(mirror, "p/k"));
        Assert.Equal(1, mirror.Count);
    }

    [Fact]
    public async Task LateAcknowledgement_OfAWriteTheStreamDeletedSince_DoesNotBringTheKeyBack()
    {
        var store = new StreamStore();
        using var mirror = await this.StartAsync(store);

        store.Own.Begin("p/k");
        store.Send(Change("p/k", KeyChangeKind.Set, 3, "1"));
        store.Send(Change("p/k", KeyChangeKind.Deleted, 4));
        store.Own.Set("p/k", "1"u8.ToArray(), 3);

        Assert.Null(Entry(mirror, "p/k"));
        Assert.Equal(0, mirror.Count);
    }

    [Fact]
    public async Task LateAcknowledgement_OfAWriteAPrefixResetLeftOut_DoesNotBringTheKeyBack()
    {
        var store = new StreamStore();
        using var mirror = await this.StartAsync(store);

        // Written at 10, deleted by another process after; the state at 15 no longer lists it, then the answer comes.
        store.Own.Begin("p/k");
        store.Send(Change("p/", KeyChangeKind.PrefixReset, 15, stateCount: 0));
        store.Own.Set("p/k", "1"u8.ToArray(), 10);

        Assert.Null(Entry(mirror, "p/k"));
        Assert.Equal((15, 0), (mirror.Version, mirror.Count));
    }

    [Fact]
    public async Task WaitForVersionAsync_Cancelled_LeavesNoWaiterBehind()
    {
        var store = new StreamStore();
        using var mirror = await this.StartAsync(store);
        for (int i = 0; i < 100; i++)
        {
            using var cancel = new CancellationTokenSource();
            var waiting = mirror.WaitForVersionAsync(1_000, cancel.Token);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        }

        Assert.Equal(0, mirror.WaitingCount);
    }

    [Fact]
    public async Task TypedReads_AreCachedPerVersion_AndAreCheckedForTheirKey()
    {
        var store = new StreamStore();
        using var mirror = await this.StartAsync(store, ("p/k", 1, "[1,2]"));

        Assert.True(mirror.TryGet<int[]>("p/k", out var first));
        Assert.True(mirror.TryGet<int[]>("p/k", out var again));
        Assert.Same(first, again);
        store.Send(Change("p/k", KeyChangeKind.Set, 3, "[3]"));
        Assert.True(mirror.TryGet<int[]>("p/k", out var next));
        Assert.Equal([3], next!);
        Assert.True(mirror.TryGetJson("p/k", out var json, out long version));
        Assert.Equal(("[3]", 3L), (Encoding.UTF8.GetString(json.Span), version));

        var wrongType = Assert.Throws<JsonException>(() => mirror.TryGet<int>("p/k", out _));
        Assert.Contains("p/k", wrongType.Message, StringComparison.Ordinal);
        var outside = Assert.Throws<ArgumentException>(() => mirror.TryGet<int>("q/k", out _));
        Assert.Contains("q/k", outside.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitForVersionAsync_CompletesWhenTheStreamReachesIt_NotOnAnOwnWrite()
    {
        var store = new StreamStore();
        using var mirror = await this.StartAsync(store);
        var waiting = mirror.WaitForVersionAsync(5, this.TimeoutToken);

        store.Own.Begin("p/k");
        store.Own.Set("p/k", "1"u8.ToArray(), 6);
        store.Send(Change("p/j", KeyChangeKind.Set, 4, "1"));
        Assert.False(waiting.IsCompleted);
        store.Send(Change("p/j", KeyChangeKind.Set, 5, "2"));

        await waiting.WaitAsync(this.TimeoutToken);
        await mirror.WaitForVersionAsync(3, this.TimeoutToken);
    }

    [Fact]
    public async Task StreamError_KeepsTheLastStateReadable_SaysDisconnected_AndFailsWaitsAndObservers()
    {
        var store = new StreamStore();
        using var mirror = await this.StartAsync(store, ("p/k", 1, "1"));
        var waiting = mirror.WaitForVersionAsync(100, this.TimeoutToken);
        var observed = mirror.LastOrDefaultAsync().ToTask(this.TimeoutToken);
        var connection = mirror.Connected.ToList().ToTask(this.TimeoutToken);
        Assert.True(mirror.IsConnected);

        store.Fail(new SharedMemoryDisconnectedException("gone"));

        Assert.False(mirror.IsConnected);
        Assert.Equal([true, false], await connection);
        Assert.Equal([false], await mirror.Connected.ToList().ToTask(this.TimeoutToken));
        Assert.IsType<SharedMemoryDisconnectedException>(mirror.Disconnection);
        Assert.Equal(new StoreEntry<int>(1, 1), Entry(mirror, "p/k"));
        await Assert.ThrowsAsync<SharedMemoryDisconnectedException>(() => waiting);
        await Assert.ThrowsAsync<SharedMemoryDisconnectedException>(() => observed);
        await Assert.ThrowsAsync<SharedMemoryDisconnectedException>(() => mirror.WaitForVersionAsync(101, this.TimeoutToken));
    }

    [Fact]
    public async Task Dispose_EndsTheSubscription_AndTheMirrorsUse()
    {
        var store = new StreamStore();
        var mirror = await this.StartAsync(store);
        Assert.True(store.Changes.HasObservers);
        var observed = mirror.ToArray().ToTask(this.TimeoutToken);

        mirror.Dispose();

        // An observer from before the disposal completes; one after it fails, as every other use does.
        Assert.Empty(await observed);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => mirror.ToArray().ToTask(this.TimeoutToken));
        Assert.False(store.Changes.HasObservers);
        Assert.False(store.Own.Begin("p/k"));
        Assert.Throws<ObjectDisposedException>(() => mirror.TryGet<int>("p/k", out _));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => mirror.WaitForVersionAsync(5, this.TimeoutToken));
    }

    /// <summary>A real worker over an in-process pipe: the state's size travels with its prefixReset, and the master's loss leaves the mirror readable.</summary>
    [Fact]
    public async Task WorkerMirror_TakesItsStateOverTheWire_AndStaysReadableWhenTheMasterGoes()
    {
        var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
        var master = new SubscribeOnlyMaster();
        var rpc = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()), master);
        rpc.StartListening();
        await using var worker = await SharedMemoryWorker.ConnectAsync(workerEnd, workerEnd, loggerFactory: null, this.TimeoutToken);
        var starting = worker.MirrorAsync("p/", this.TimeoutToken);
        long id = await master.Subscribed.Task.WaitAsync(this.TimeoutToken);
        await rpc.NotifyWithParameterObjectAsync("changes", new
        {
            changes = new object[]
            {
                new { subscription = id, key = "p/", kind = "prefixReset", version = 9L, timestamp = 0L, skipped = 0L, count = 1 },
                new { subscription = id, key = "p/a", kind = "reset", version = 4L, timestamp = 0L, skipped = 0L, value = 1 },
            },
        });
        using var mirror = await starting.WaitAsync(this.TimeoutToken);
        Assert.Equal(9, mirror.Version);
        var lost = this.FirstAsync(mirror.Connected, connected => !connected);

        rpc.Dispose();

        await lost;
        Assert.False(mirror.IsConnected);
        Assert.Equal(new StoreEntry<int>(1, 4), Entry(mirror, "p/a"));
    }

    [Fact]
    public async Task MasterStoreMirror_ReadsItsOwnWritesAtOnce_AndFollowsTheStore()
    {
        await using var master = new SharedMemoryMaster();
        await master.Store.SetAsync("p/a", 1, this.TimeoutToken);
        using var mirror = await master.Store.MirrorAsync("p/", this.TimeoutToken);
        Assert.Equal(new StoreEntry<int>(1, 1), Entry(mirror, "p/a"));

        long set = await master.Store.SetAsync("p/b", 2, this.TimeoutToken);
        Assert.Equal(new StoreEntry<int>(2, set), Entry(mirror, "p/b"));
        var sum = await master.Store.IncrementAsync("p/n", 5, this.TimeoutToken);
        Assert.Equal(new StoreEntry<int>(5, sum.Version), Entry(mirror, "p/n"));
        Assert.True(await master.Store.DeleteAsync("p/a", this.TimeoutToken));
        Assert.Null(Entry(mirror, "p/a"));
        var swapped = await master.Store.CompareAndSetAsync("p/b", set, 3, cancellationToken: this.TimeoutToken);
        Assert.Equal(new StoreEntry<int>(3, swapped.Version), Entry(mirror, "p/b"));

        await mirror.WaitForVersionAsync(master.Version, this.TimeoutToken);
        Assert.Equal((master.Version, 2), (mirror.Version, mirror.Count));
    }

    private static StoreEntry<int>? Entry(SharedStoreMirror mirror, string key) => mirror.TryGetEntry<int>(key, out var entry) ? entry : null;

    private static KeyChange Change(string key, KeyChangeKind kind, long version, string? json = null, int stateCount = -1) =>
        new(key, kind, version, DateTimeOffset.UnixEpoch, json is null ? null : (ReadOnlyMemory<byte>?)Encoding.UTF8.GetBytes(json), 0) { StateCount = stateCount };

    /// <summary>A mirror of p/ holding <paramref name="keys"/>, complete at the highest version among them plus one.</summary>
    private async Task<SharedStoreMirror> StartAsync(StreamStore store, params (string Key, long Version, string Json)[] keys)
    {
        var starting = store.MirrorAsync("p/", this.TimeoutToken);
        store.Send(Change("p/", KeyChangeKind.PrefixReset, keys.Select(k => k.Version).DefaultIfEmpty().Max() + 1, stateCount: keys.Length));
        foreach (var (key, version, json) in keys)
        {
            store.Send(Change(key, KeyChangeKind.Reset, version, json));
        }

        return await starting.WaitAsync(this.TimeoutToken);
    }

    /// <summary>A store whose prefix stream the test writes, and whose own writes it reports by hand.</summary>
    private sealed class StreamStore : ISharedStore, IOwnWriteSource
    {
        public Subject<KeyChange> Changes { get; } = new();

        public OwnWrites OwnWrites { get; } = new();

        public OwnWrites Own => this.OwnWrites;

        public void Send(KeyChange change) => this.Changes.OnNext(change);

        public void Fail(Exception error) => this.Changes.OnError(error);

        public IObservable<KeyChange> ObservePrefix(string prefix, long? fromVersion = null) => this.Changes;

        public IObservable<KeyChange> Observe(string key, long? fromVersion = null) => throw new NotSupportedException();

        public ValueTask<T?> GetAsync<T>(string key, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<long> SetAsync<T>(string key, T value, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<long> SetAsync<T>(string key, T value, SetOptions options, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, SetOptions? options = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<long> SetAsync<T>(string key, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> jsonTypeInfo, SetOptions? options = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> jsonTypeInfo, SetOptions? options = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<StoreEntry<long>> IncrementAsync(string key, long delta = 1, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<IAsyncDisposable> AcquireLockAsync(string name, TimeSpan timeout, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
