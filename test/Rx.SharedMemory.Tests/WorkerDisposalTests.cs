using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.Tests;

/// <summary>What a worker's disposal does to what was made before it.</summary>
public sealed class WorkerDisposalTests : TestBase
{
    /// <summary>
    /// A subscription whose request is still waiting for the master's answer when the worker is disposed was made
    /// before the disposal: it completes, as the README promises, and does not fail with the disconnection the
    /// disposal causes.
    /// </summary>
    [Fact]
    public async Task ASubscriptionWhoseRequestIsUnansweredAtDisposal_Completes()
    {
        var (worker, master) = await RawPeer.ConnectWorkerAsync("""["batch"]""", this.TimeoutToken);

        var ended = worker.Observe("k").Materialize().LastAsync().ToTask(this.TimeoutToken);
        var request = await master.ReadAsync(this.TimeoutToken);
        Assert.Equal("subscribe", request.GetProperty("method").GetString());

        await worker.DisposeAsync();

        var last = await ended;
        Assert.True(last.Kind == System.Reactive.NotificationKind.OnCompleted, $"ended with {last.Kind}: {last.Exception}");
    }
}
