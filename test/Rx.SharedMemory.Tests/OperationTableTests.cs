using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Nerdbank.Streams;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Store;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// The master's operation table, served over an in-process pipe: every method by name and by position, the requests
/// exactly as the .NET worker writes them (<see cref="PinnedRequests"/>) with the results it reads, and nothing but the
/// table's methods.
/// </summary>
public sealed class OperationTableTests : TestBase
{
    [Fact]
    public async Task EveryMethod_ByNameAndByPosition_BindsToTheTable_WithTheProtocolsDefaults()
    {
        await using var pair = await Pair.StartAsync(this.TimeoutToken); // hello by name, sharedRegion left out
        var rpc = pair.Worker;
        var token = this.TimeoutToken;

        // set: ttlMs and ephemeral left out by name (no time to live, not ephemeral), both given by position.
        long set = await rpc.InvokeWithParameterObjectAsync<long>(RpcMethods.Set, new { key = "a", value = new[] { 1, 2 } }, token);
        await rpc.InvokeWithCancellationAsync<long>(RpcMethods.Set, ["e", 1, 3_600_000, true], token);
        Assert.Equal(1, pair.Store.Ephemeral.Keys);

        var entry = await rpc.InvokeWithCancellationAsync<JsonElement>(RpcMethods.Get, ["a"], token);
        var entryByName = await rpc.InvokeWithParameterObjectAsync<JsonElement>(RpcMethods.Get, new { key = "a" }, token);
        Assert.Equal("""{"value":[1,2],"version":""" + set + "}", entry.GetRawText());
        Assert.Equal(entry.GetRawText(), entryByName.GetRawText());

        var counter = await rpc.InvokeWithParameterObjectAsync<JsonElement>(RpcMethods.Increment, new { key = "n" }, token);
        var counterByPosition = await rpc.InvokeWithCancellationAsync<JsonElement>(RpcMethods.Increment, ["n", 5], token);
        Assert.Equal(1, counter.GetProperty("value").GetInt64()); // delta defaults to 1
        Assert.Equal(6, counterByPosition.GetProperty("value").GetInt64());

        var cas = await rpc.InvokeWithCancellationAsync<JsonElement>(RpcMethods.CompareAndSet, ["a", set, 3], token);
        var casByName = await rpc.InvokeWithParameterObjectAsync<JsonElement>(RpcMethods.CompareAndSet, new { key = "a", expectedVersion = set, value = 4 }, token);
        Assert.True(cas.GetProperty("succeeded").GetBoolean());
        Assert.Equal("""{"succeeded":false,"version":""" + cas.GetProperty("version").GetInt64() + "}", casByName.GetRawText());

        long deleted = await rpc.InvokeWithParameterObjectAsync<long>(RpcMethods.Delete, new { key = "a" }, token);
        Assert.True(deleted > cas.GetProperty("version").GetInt64());
        Assert.Equal(0, await rpc.InvokeWithCancellationAsync<long>(RpcMethods.Delete, ["a"], token));

        long lockToken = await rpc.InvokeWithParameterObjectAsync<long>(RpcMethods.Lock, new { name = "l", timeoutMs = 1000 }, token);
        Assert.True(await rpc.InvokeWithCancellationAsync<bool>(RpcMethods.Unlock, ["l", lockToken], token));
        lockToken = await rpc.InvokeWithCancellationAsync<long>(RpcMethods.Lock, ["l", 1000], token);
        Assert.True(await rpc.InvokeWithParameterObjectAsync<bool>(RpcMethods.Unlock, new { name = "l", token = lockToken }, token));

        // subscribe: prefix and fromVersion left out by name (a key, from its current state); a prefix from a version by position.
        long version = await rpc.InvokeWithParameterObjectAsync<long>(RpcMethods.Subscribe, new { subscription = 1, key = "n" }, token);
        Assert.Equal(deleted, version);
        long prefixVersion = await rpc.InvokeWithCancellationAsync<long>(RpcMethods.Subscribe, [2, "", true, deleted - 1], token);
        Assert.Equal(version, prefixVersion);
        var state = await pair.Delivered.ReadAsync(token);
        Assert.Equal((1L, "n", KeyChangeKind.Reset), (state.SubscriptionId, state.Change.Key, state.Change.Kind));
        var logged = await pair.Delivered.ReadAsync(token);
        Assert.Equal((2L, "a", KeyChangeKind.Deleted, deleted), (logged.SubscriptionId, logged.Change.Key, logged.Change.Kind, logged.Change.Version));

        // unsubscribe: by name, and as a notification by position, which runs before the request after it.
        Assert.True(await rpc.InvokeWithParameterObjectAsync<bool>(RpcMethods.Unsubscribe, new { subscription = 1 }, token));
        await rpc.NotifyAsync(RpcMethods.Unsubscribe, 2);
        Assert.False(await rpc.InvokeWithCancellationAsync<bool>(RpcMethods.Unsubscribe, [2], token));

        var batch = await rpc.InvokeWithCancellationAsync<JsonElement>(RpcMethods.Batch, [new[] { new object[] { RpcMethods.Get, "n" } }], token);
        var batchByName = await rpc.InvokeWithParameterObjectAsync<JsonElement>(RpcMethods.Batch, new { calls = new[] { new object[] { RpcMethods.Increment, "n" } } }, token);
        Assert.Equal("""[{"result":""" + counterByPosition.GetRawText() + "}]", batch.GetRawText());
        Assert.Equal(7, batchByName[0].GetProperty("result").GetProperty("value").GetInt64());
    }

    [Fact]
    public async Task TheWorkersRequests_AsPinned_BindToTheTable_AndGetThePinnedResults()
    {
        await using var pair = Pair.Raw();
        var worker = pair.RawWorker;

        var hello = await worker.CallAsync(RpcMethods.Hello, PinnedRequests.Hello, this.TimeoutToken);
        Assert.Equal("""{"protocolVersion":1,"workerId":1,"maxKeyLength":1024,"maxValueBytes":16777216,"features":["batch","messages","traceContext"]}""", Result(hello));

        foreach (var exchange in PinnedRequests.Conversation)
        {
            if (exchange.IsRequest)
            {
                var answer = await worker.CallAsync(exchange.Method, exchange.Params, this.TimeoutToken);
                Assert.True(exchange.Result == Result(answer), $"{exchange.Method} {exchange.Params}: expected {exchange.Result}, got {answer.GetRawText()}");
            }
            else
            {
                await worker.NotifyAsync(exchange.Method, exchange.Params, this.TimeoutToken);
            }
        }

        // The notification ran before the requests after it: the subscription it ended is gone, the other is not.
        Assert.Equal("false", Result(await worker.CallAsync(RpcMethods.Unsubscribe, "[1]", this.TimeoutToken)));
        Assert.Equal("true", Result(await worker.CallAsync(RpcMethods.Unsubscribe, "[2]", this.TimeoutToken)));

        // An unlock whose token holds nothing is answered false; a negative lock timeout is refused (an
        // ArgumentOutOfRangeException: -32011 once RpcErrors maps it, which this bare connection does not).
        Assert.Equal("false", Result(await worker.CallAsync(PinnedRequests.Unlock.Method, PinnedRequests.Unlock.Params, this.TimeoutToken)));
        var negative = await worker.CallAsync(RpcMethods.Lock, """["l",-1]""", this.TimeoutToken);
        Assert.Contains("lock timeout", negative.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheConnectionsOtherPublicMethods_CannotBeCalled()
    {
        await using var pair = await Pair.StartAsync(this.TimeoutToken);
        await pair.Worker.InvokeWithParameterObjectAsync<long>(RpcMethods.Set, new { key = "e", value = 1, ephemeral = true }, this.TimeoutToken);

        // StreamJsonRpc exposes every public method of a target object under its CLR name; the table exposes only its own.
        foreach (var name in new[] { "ReleaseAll", "OnHello", "OnMessage", "SendJsonAsync", "Batch", "Greeted", "LockAsync" })
        {
            await Assert.ThrowsAsync<RemoteMethodNotFoundException>(() => pair.Worker.InvokeWithCancellationAsync(name, [], this.TimeoutToken));
        }

        Assert.NotNull(pair.Store.Get("e")); // ReleaseAll did not run for the worker
    }

    private static string? Result(JsonElement answer) =>
        answer.TryGetProperty("result", out var result) ? result.GetRawText() : null;

    private sealed class Pair : IAsyncDisposable
    {
        private readonly Channel<OutboxItem> delivered = Channel.CreateUnbounded<OutboxItem>();
        private readonly ChangeOutbox outbox;
        private readonly JsonRpc master;
        private readonly JsonRpc? worker;
        private readonly RawPeer? rawWorker;

        private Pair(bool raw)
        {
            this.outbox = new(100, this.DeliverAsync, NullLogger.Instance);
            var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
            this.master = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()));
            OperationTable.Register(this.master, new WorkerConnection(this.Engine, this.outbox, new SharedMemoryOptions(), 1, region: null, NullLogger.Instance));
            this.master.StartListening();
            if (raw)
            {
                this.rawWorker = new RawPeer(workerEnd);
            }
            else
            {
                this.worker = new JsonRpc(new HeaderDelimitedMessageHandler(workerEnd, workerEnd, new SystemTextJsonFormatter()));
                this.worker.StartListening();
            }
        }

        public MemoryEngine Engine { get; } = new(new SharedMemoryOptions());

        public KeyValueStore Store => this.Engine.Store;

        /// <summary>Gets the worker's end as a JSON-RPC connection that has said hello.</summary>
        public JsonRpc Worker => this.worker ?? throw new InvalidOperationException("This pair's worker end is raw.");

        /// <summary>Gets the worker's end as raw frames, before hello.</summary>
        public RawPeer RawWorker => this.rawWorker ?? throw new InvalidOperationException("This pair's worker end speaks JSON-RPC.");

        /// <summary>Gets the changes the connection's outbox delivered, in order.</summary>
        public ChannelReader<OutboxItem> Delivered => this.delivered.Reader;

        public static async Task<Pair> StartAsync(CancellationToken cancellationToken)
        {
            var pair = new Pair(raw: false);
            await pair.Worker.InvokeWithParameterObjectAsync<JsonElement>(RpcMethods.Hello, new { protocolVersion = RpcMethods.ProtocolVersion, processId = 1 }, cancellationToken); // sharedRegion defaults to false
            return pair;
        }

        public static Pair Raw() => new(raw: true);

        public ValueTask DisposeAsync()
        {
            this.worker?.Dispose();
            this.master.Dispose();
            this.outbox.Dispose();
            this.Engine.Dispose();
            return default;
        }

        private ValueTask DeliverAsync(IReadOnlyList<OutboxItem> batch)
        {
            foreach (var item in batch)
            {
                this.delivered.Writer.TryWrite(item);
            }

            return default;
        }
    }
}
