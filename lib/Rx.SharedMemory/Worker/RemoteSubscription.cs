using System.Reactive;

namespace Rx.SharedMemory.Worker;

/// <summary>A worker's side of one subscription: the observer its changes go to.</summary>
internal sealed class RemoteSubscription(long id, IObserver<KeyChange> observer)
{
    // Serialized: the end of the connection must not overlap a delivery.
    private readonly IObserver<KeyChange> observer = Observer.Synchronize(observer);
    private int ended;

    public long Id { get; } = id;

    public void Deliver(KeyChange change)
    {
        if (Volatile.Read(ref this.ended) == 0)
        {
            this.observer.OnNext(change);
        }
    }

    /// <summary>Stops deliveries; no further call reaches the observer.</summary>
    /// <returns>Whether this call ended it.</returns>
    public bool End() => Interlocked.Exchange(ref this.ended, 1) == 0;

    public void Fail(Exception error)
    {
        if (this.End())
        {
            this.observer.OnError(error);
        }
    }

    public void Complete()
    {
        if (this.End())
        {
            this.observer.OnCompleted();
        }
    }
}
