namespace Rx.SharedMemory;

/// <summary>How a write is kept: its time to live, and whether it lives only as long as its writer.</summary>
public sealed record SetOptions
{
    /// <summary>
    /// Gets the time after which the key is removed and an <see cref="KeyChangeKind.Expired"/> change published,
    /// driven by a timer on the master. <see langword="null"/> (the default) keeps the key until it is deleted or
    /// evicted. A later write without a time to live clears it.
    /// </summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>
    /// Gets a value indicating whether the key is deleted (and the deletion published) when the worker that wrote it
    /// disconnects or dies. A later set or compare-and-set by anyone else, or one that is not ephemeral, takes the key
    /// over; an increment keeps the key's owner, as it keeps its time to live. Keys the master writes itself live as
    /// long as the master: with a store kept elsewhere (Redis), they are deleted when it is disposed, or once its lease
    /// runs out (if it dies, or stalls past its lease), as a store connected without a master deletes its own.
    /// </summary>
    public bool Ephemeral { get; init; }

    internal void Validate()
    {
        if (this.TimeToLive is { } ttl && ttl <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(this.TimeToLive), ttl, "A time to live must be positive.");
        }
    }
}
