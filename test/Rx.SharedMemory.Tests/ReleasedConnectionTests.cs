using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>A connection released after its worker's death runs no more writes, whatever the master had read of it.</summary>
public sealed class ReleasedConnectionTests : TestBase
{
    /// <summary>
    /// README, Workers: "a request of it that the master read but had not run yet is refused rather than run for it".
    /// Only the owning calls (lock, ephemeral set, subscribe) pass the release gate; a plain set, increment or delete
    /// read before the worker died runs after its exit is reported.
    /// </summary>
    [Theory]
    [InlineData("set")]
    [InlineData("increment")]
    [InlineData("batch")]
    public void DataCall_RunAfterItsWorkerWasReleased_IsRefused(string kind)
    {
        var options = new SharedMemoryOptions();
        using var store = new KeyValueStore(options);
        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var target = new StoreRpcTarget(store, new LockTable(), outbox, options, 1, region: null, NullLogger.Instance);
        target.OnHello(1, Environment.ProcessId);
        target.ReleaseAll(); // the worker's exit is handled; its reader still holds a request it read before the death

        using var value = JsonDocument.Parse("1");
        using var batch = JsonDocument.Parse("""[["set","dead/k",1]]""");
        try
        {
            _ = kind switch
            {
                "set" => (object)target.Set("dead/k", value.RootElement),
                "increment" => target.Increment("dead/k"),
                _ => target.Batch(batch.RootElement),
            };
        }
        catch (ObjectDisposedException)
        {
        }

        Assert.Null(store.Get("dead/k"));
    }
}
