using Microsoft.Extensions.Logging.Abstractions;
using Nerdbank.Streams;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Store;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>A connection released after its worker's death runs no more writes, whatever the master had read of it.</summary>
public sealed class ReleasedConnectionTests : TestBase
{
    /// <summary>
    /// README, Workers: "a request of it that the master read but had not run yet is refused rather than run for it".
    /// The release happens first here, as when the worker's exit is handled while its reader still holds a request.
    /// </summary>
    [Theory]
    [InlineData(RpcMethods.Set)]
    [InlineData(RpcMethods.Increment)]
    [InlineData(RpcMethods.Delete)]
    [InlineData(RpcMethods.Batch)]
    public async Task DataCall_RunAfterItsWorkerWasReleased_IsRefused(string method)
    {
        var options = new SharedMemoryOptions();
        using var engine = new MemoryEngine(options);
        var store = engine.Store;
        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var target = new WorkerConnection(engine, outbox, options, 1, region: null, NullLogger.Instance);
        var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
        using var master = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()));
        OperationTable.Register(master, target);
        master.StartListening();
        using var worker = new JsonRpc(new HeaderDelimitedMessageHandler(workerEnd, workerEnd, new SystemTextJsonFormatter()));
        worker.StartListening();
        await worker.InvokeWithParameterObjectAsync<object>(RpcMethods.Hello, new { protocolVersion = 1, processId = Environment.ProcessId }, this.TimeoutToken);
        store.Set("dead/d", "1"u8.ToArray());
        long before = store.Version;

        await target.ReleaseAllAsync();
        Task call = method switch
        {
            RpcMethods.Set => worker.InvokeWithParameterObjectAsync<long>(method, new { key = "dead/k", value = 1 }, this.TimeoutToken),
            RpcMethods.Increment => worker.InvokeWithParameterObjectAsync<object>(method, new { key = "dead/k" }, this.TimeoutToken),
            RpcMethods.Delete => worker.InvokeWithParameterObjectAsync<long>(method, new { key = "dead/d" }, this.TimeoutToken),
            _ => worker.InvokeWithCancellationAsync<object>(method, [new object[] { new object[] { "set", "dead/k", 1 }, new object[] { "delete", "dead/d" } }], this.TimeoutToken),
        };
        if (method != RpcMethods.Batch)
        {
            await Assert.ThrowsAsync<RemoteInvocationException>(() => call);
        }
        else
        {
            await call; // each call of a batch gets its own error
        }

        Assert.Null(store.Get("dead/k"));
        Assert.NotNull(store.Get("dead/d"));
        Assert.Equal(before, store.Version);
    }
}
