using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Master;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A request the master has read from a worker's pipe but not yet run when the worker dies: held back on the master's
/// reader until the worker's exit has been handled, it must not leave the dead worker owning anything.
/// </summary>
public sealed class ReleaseRaceTests : WorkerProcessTestBase
{
    [Theory]
    [InlineData("lock")]
    [InlineData("ephemeral")]
    [InlineData("subscribe")]
    public async Task OwningCall_RunAfterItsWorkerWasReleased_IsRefused_AndLeavesNothingBehind(string kind)
    {
        var name = $"race/{kind}";
        int subscriptions = this.Master.SubscriptionCount;
        var (worker, _) = await this.SpawnAsync("own", kind, name);
        var connection = (WorkerConnection)worker;
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var proceed = new ManualResetEventSlim();
        connection.BeforeOwningCall = (_, key) =>
        {
            if (key == name)
            {
                held.TrySetResult();
                proceed.Wait(this.TimeoutToken);
            }
        };
        await this.Master.Store.SetAsync($"go/{worker.Id}", true, this.TimeoutToken);
        await held.Task.WaitAsync(this.TimeoutToken);

        // The worker dies while the master's reader holds its call; the exit is reported once what it held is released.
        worker.Kill();
        Assert.Equal(137, await worker.Exited.WaitAsync(this.TimeoutToken));
        var running = connection.DispatchCompletion;
        proceed.Set();
        await running.WaitAsync(this.TimeoutToken);

        Assert.Equal(subscriptions, this.Master.SubscriptionCount);
        Assert.Equal((0, 0), ((MemoryEngine)this.Master.Engine).Store.Ephemeral);
        Assert.Null(await this.Master.Store.GetEntryAsync<string>(name, this.TimeoutToken));
        Assert.Equal(0, ((MemoryEngine)this.Master.Engine).Locks.Count);
        await using var taken = await this.Master.Store.AcquireLockAsync(name, TimeSpan.Zero, this.TimeoutToken);
    }
}
