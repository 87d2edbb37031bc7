using System.Text.Json;
using Nerdbank.Streams;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>The batch feature is negotiated: a worker speaks to a master without it, and a hand-written worker can use it.</summary>
public sealed class ProtocolCompatibilityTests : WorkerProcessTestBase
{
    [Fact]
    public async Task AWorker_UsesSingleRequests_WithAMasterThatOffersNoFeatures()
    {
        var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
        var master = new FeaturelessMaster();
        using var rpc = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()), master);
        rpc.StartListening();

        await using var worker = await SharedMemoryWorker.ConnectAsync(workerEnd, workerEnd, loggerFactory: null, this.TimeoutToken);
        var calls = new[] { worker.SetAsync("a", new[] { 0, 1, 2, 3 }, this.TimeoutToken).AsTask(), worker.SetAsync("b", 1, this.TimeoutToken).AsTask() };
        await Task.WhenAll(calls);
        var entry = await worker.GetEntryAsync<int[]>("a", this.TimeoutToken);

        Assert.Equal([0, 1, 2, 3], entry!.Value);
        Assert.Equal(1, entry.Version);
        Assert.Equal(["hello", "set a", "set b", "get a"], master.Calls);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AWorker_SendsTraceParents_OnlyToAMasterThatListsTraceContext(bool listed)
    {
        var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
        var master = listed ? new FeaturelessMaster("traceContext") : new FeaturelessMaster();
        using var rpc = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()), master) { ActivityTracingStrategy = master.TraceParents };
        rpc.StartListening();

        await using var worker = await SharedMemoryWorker.ConnectAsync(workerEnd, workerEnd, loggerFactory: null, this.TimeoutToken);
        using (var caller = new System.Diagnostics.Activity("caller").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start())
        {
            await worker.SetAsync("a", 1, this.TimeoutToken);
            Assert.Equal(
                [("hello", null), ("set", listed ? caller.Id : null)],
                master.TraceParents.Received);
        }
    }

    [Fact]
    public async Task AMethodTheMasterLacks_FailsAsTheLibrarysException_NotStreamJsonRpcs()
    {
        var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
        using var rpc = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()), new FeaturelessMaster());
        rpc.StartListening();
        await using var worker = await SharedMemoryWorker.ConnectAsync(workerEnd, workerEnd, loggerFactory: null, this.TimeoutToken);

        // StreamJsonRpc reads -32601 (and -32602) answers as its RemoteMethodNotFoundException, not as a remote invocation's error.
        var failures = new[]
        {
            await Assert.ThrowsAsync<SharedMemoryException>(async () => await worker.AcquireLockAsync("l", TimeSpan.Zero, this.TimeoutToken)),
            await Assert.ThrowsAsync<SharedMemoryException>(async () => await worker.IncrementAsync("n", 1, this.TimeoutToken)),
        };

        Assert.All(failures, failure =>
        {
            Assert.StartsWith("The master failed the call: ", failure.Message, StringComparison.Ordinal);
            Assert.Null(failure.InnerException);
        });
    }

    [Fact]
    public async Task AHandWrittenBatch_GetsOneResultOrErrorPerCall_InOrder()
    {
        var report = await this.ReportAfterExitAsync(await this.SpawnAsync("raw-batch"));

        using var response = JsonDocument.Parse(report[^1]);
        var results = response.RootElement.GetProperty("result").EnumerateArray().ToArray();
        Assert.Equal(7, results.Length);
        long setVersion = results[0].GetProperty("result").GetInt64();
        Assert.Equal("""{"value":[1,2],"version":""" + setVersion + "}", results[1].GetProperty("result").GetRawText());
        Assert.Equal(-32012, results[2].GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains("raw/a", results[2].GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(-32011, results[3].GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains("'unknown'", results[3].GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, results[4].GetProperty("result").ValueKind);
        Assert.Equal(-32011, results[5].GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(5, results[6].GetProperty("result").GetProperty("value").GetInt64());
        Assert.Equal(5, await this.Master.Store.GetAsync<long>("raw/n", this.TimeoutToken));
    }
}
