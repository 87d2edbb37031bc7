using Nerdbank.Streams;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>A worker whose master goes fails its calls with <see cref="SharedMemoryDisconnectedException"/>, whatever its observers are doing.</summary>
public sealed class MasterLossTests : TestBase
{
    /// <summary>
    /// README, A dead master: "A worker's pending and later calls throw SharedMemoryDisconnectedException". With an
    /// observer busy in OnNext when the master goes, a call sent at that moment neither fails nor completes: it ends
    /// only when its own token cancels it (5 s here), and the test then takes the whole TimeoutToken to finish.
    /// With the call made 500 ms after the master went, it failed the same way in one run of two. Control: the same
    /// without a busy observer passes.
    /// </summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)] // control: passes
    [InlineData(true, true)]
    public async Task CallInFlight_WhenTheMasterGoes_WhileAnObserverIsBusy_ThrowsDisconnected(bool observerBusy, bool delay)
    {
        var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
        var master = new SubscribeOnlyMaster();
        var rpc = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()), master);
        rpc.StartListening();
        await using var worker = await SharedMemoryWorker.ConnectAsync(workerEnd, workerEnd, loggerFactory: null, this.TimeoutToken);
        using var busy = new ManualResetEventSlim();
        using var first = new ManualResetEventSlim();
        using var _ = worker.Observe("k").Subscribe(change => { first.Set(); busy.Wait(this.TimeoutToken); }, error => { });
        long id = await master.Subscribed.Task.WaitAsync(this.TimeoutToken);
        if (observerBusy)
        {
            var changes = new[] { new { subscription = id, key = "k", kind = "reset", version = 1L, timestamp = 0L, skipped = 0L, value = 1 } };
            await rpc.NotifyWithParameterObjectAsync("changes", new { changes });
            first.Wait(this.TimeoutToken);
        }

        rpc.Dispose();
        if (delay)
        {
            await Task.Delay(500, this.TimeoutToken);
        }

        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(this.TimeoutToken);
        attempt.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await Assert.ThrowsAsync<SharedMemoryDisconnectedException>(async () => await worker.GetAsync<int>("x", attempt.Token));
        }
        finally
        {
            busy.Set();
        }
    }
}
