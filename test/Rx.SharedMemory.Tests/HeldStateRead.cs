using Rx.SharedMemory.Redis;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A subscription opened on a Redis master whose starting state, once read, is held back until <see cref="Release"/>:
/// what comes meanwhile for the other subscriptions of its connection waits behind it.
/// </summary>
internal sealed class HeldStateRead
{
    private readonly TaskCompletionSource release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HeldStateRead()
    {
    }

    /// <summary>Gets the subscription's opening, which completes once released.</summary>
    public Task Opening { get; private set; } = Task.CompletedTask;

    /// <summary>Opens <paramref name="subscription"/> and returns once its state has been read and is held.</summary>
    public static async Task<HeldStateRead> OpenAsync(RedisEngine engine, StoreSubscription subscription, CancellationToken cancellationToken)
    {
        var opened = new HeldStateRead();
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        engine.Feed.BeforeStateQueued = () =>
        {
            held.TrySetResult();
            return opened.release.Task;
        };
        opened.Opening = engine.SubscribeAsync(subscription, fromVersion: null, cancellationToken).AsTask();
        await held.Task.WaitAsync(cancellationToken);
        engine.Feed.BeforeStateQueued = null;
        return opened;
    }

    /// <summary>Lets the state through, and what waited behind it.</summary>
    public void Release() => this.release.TrySetResult();
}
