using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Nerdbank.Streams;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Store;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>The master's operation table, served over an in-process pipe: requests by name and by position, and nothing but the table's methods.</summary>
public sealed class OperationTableTests : TestBase
{
    [Fact]
    public async Task RequestsByNameAndByPosition_BindToTheTable_WithTheProtocolsDefaults()
    {
        await using var pair = await Pair.StartAsync(this.TimeoutToken);
        var rpc = pair.Worker;

        long set = await rpc.InvokeWithParameterObjectAsync<long>(RpcMethods.Set, new { key = "a", value = new[] { 1, 2 } }, this.TimeoutToken);
        var entry = await rpc.InvokeWithCancellationAsync<JsonElement>(RpcMethods.Get, ["a"], this.TimeoutToken);
        var counter = await rpc.InvokeWithParameterObjectAsync<JsonElement>(RpcMethods.Increment, new { key = "n" }, this.TimeoutToken);
        var cas = await rpc.InvokeWithCancellationAsync<JsonElement>(RpcMethods.CompareAndSet, ["a", set, 3], this.TimeoutToken);
        long deleted = await rpc.InvokeWithParameterObjectAsync<long>(RpcMethods.Delete, new { key = "a" }, this.TimeoutToken);

        Assert.Equal("""{"value":[1,2],"version":""" + set + "}", entry.GetRawText());
        Assert.Equal(1, counter.GetProperty("value").GetInt64()); // delta defaults to 1
        Assert.True(cas.GetProperty("succeeded").GetBoolean());
        Assert.True(deleted > cas.GetProperty("version").GetInt64());
        Assert.Equal(0, pair.Store.Ephemeral.Keys); // ephemeral defaults to false
    }

    [Fact]
    public async Task TheConnectionsOtherPublicMethods_CannotBeCalled()
    {
        await using var pair = await Pair.StartAsync(this.TimeoutToken);
        await pair.Worker.InvokeWithParameterObjectAsync<long>(RpcMethods.Set, new { key = "e", value = 1, ephemeral = true }, this.TimeoutToken);

        // StreamJsonRpc exposes every public method of a target object under its CLR name; the table exposes only its own.
        foreach (var name in new[] { "ReleaseAll", "OnHello", "Batch", "Greeted", "LockAsync" })
        {
            await Assert.ThrowsAsync<RemoteMethodNotFoundException>(() => pair.Worker.InvokeWithCancellationAsync(name, [], this.TimeoutToken));
        }

        Assert.NotNull(pair.Store.Get("e")); // ReleaseAll did not run for the worker
    }

    private sealed class Pair : IAsyncDisposable
    {
        private readonly ChangeOutbox outbox = new(100, _ => default, NullLogger.Instance);
        private readonly JsonRpc master;

        private Pair()
        {
            var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
            this.master = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()));
            OperationTable.Register(this.master, new StoreRpcTarget(this.Engine, this.outbox, new SharedMemoryOptions(), 1, region: null, NullLogger.Instance));
            this.master.StartListening();
            this.Worker = new JsonRpc(new HeaderDelimitedMessageHandler(workerEnd, workerEnd, new SystemTextJsonFormatter()));
            this.Worker.StartListening();
        }

        public MemoryEngine Engine { get; } = new(new SharedMemoryOptions());

        public KeyValueStore Store => this.Engine.Store;

        public JsonRpc Worker { get; }

        public static async Task<Pair> StartAsync(CancellationToken cancellationToken)
        {
            var pair = new Pair();
            await pair.Worker.InvokeWithParameterObjectAsync<JsonElement>(RpcMethods.Hello, new { protocolVersion = RpcMethods.ProtocolVersion, processId = 1 }, cancellationToken); // sharedRegion defaults to false
            return pair;
        }

        public ValueTask DisposeAsync()
        {
            this.Worker.Dispose();
            this.master.Dispose();
            this.outbox.Dispose();
            this.Engine.Dispose();
            return default;
        }
    }
}
