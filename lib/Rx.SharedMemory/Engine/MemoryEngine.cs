using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Engine;

/// <summary>
/// The embedded engine, the default: the store in the master's memory (<see cref="KeyValueStore"/>) and its locks
/// (<see cref="LockTable"/>). Every operation but a lock wait completes synchronously.
/// </summary>
internal sealed class MemoryEngine(SharedMemoryOptions options, MasterMetrics? metrics = null) : IStoreEngine
{
    /// <summary>Gets the store, for tests that check what an owner left.</summary>
    internal KeyValueStore Store { get; } = new(options, metrics);

    /// <summary>Gets the locks, for tests that check what an owner left.</summary>
    internal LockTable Locks { get; } = new(options.TimeProvider);

    public long Version => this.Store.Version;

    public int Count => this.Store.Count;

    public long Bytes => this.Store.Bytes;

    public int SubscriptionCount => this.Store.SubscriptionCount;

    public StoreSize? Size => this.Store.Size;

    public ValueTask<StoredValue?> GetAsync(string key, CancellationToken cancellationToken) => new(this.Store.Get(key));

    public ValueTask<long> SetAsync(string key, byte[] utf8Json, TimeSpan? timeToLive, long owner, string? traceParent, CancellationToken cancellationToken) =>
        new(this.Store.Set(key, utf8Json, timeToLive, owner, traceParent));

    public ValueTask<CompareAndSetResult> CompareAndSetAsync(string key, long expectedVersion, byte[] utf8Json, TimeSpan? timeToLive, long owner, string? traceParent, CancellationToken cancellationToken) =>
        new(this.Store.CompareAndSet(key, expectedVersion, utf8Json, timeToLive, owner, traceParent));

    public ValueTask<(long Value, long Version)> IncrementAsync(string key, long delta, string? traceParent, CancellationToken cancellationToken) =>
        new(this.Store.Increment(key, delta, traceParent));

    public ValueTask<long> DeleteAsync(string key, string? traceParent, CancellationToken cancellationToken) => new(this.Store.Delete(key, traceParent));

    public Task<long> LockAsync(string name, long owner, TimeSpan timeout, CancellationToken cancellationToken) =>
        this.Locks.AcquireAsync(name, owner, timeout, cancellationToken);

    public ValueTask<bool> UnlockAsync(string name, long token, long owner, CancellationToken cancellationToken) => new(this.Locks.Release(name, token));

    public ValueTask ReleaseOwnerAsync(long owner, CancellationToken cancellationToken)
    {
        this.Locks.ReleaseOwner(owner);
        this.Store.ReleaseOwner(owner);
        return default;
    }

    public ValueTask<long> SubscribeAsync(StoreSubscription subscription, long? fromVersion, CancellationToken cancellationToken) =>
        new(this.Store.Subscribe(subscription, fromVersion));

    public long SubscribeLive(StoreSubscription subscription) => this.Store.SubscribeLive(subscription);

    public void Unsubscribe(StoreSubscription subscription) => this.Store.Unsubscribe(subscription);

    // Every change is handed out by the thread that committed it: none is read back.
    public ValueTask<long> CatchUpPointAsync(CancellationToken cancellationToken) => new(0L);

    // A committed change may still wait on the outbox's lane while its writer hands out to other outboxes first.
    public ValueTask CaughtUpAsync(long point, ChangeOutbox outbox, CancellationToken cancellationToken)
    {
        outbox.Arrivals.HandOut(outbox.Arrivals.Added);
        return default;
    }

    public void Dispose() => this.Store.Dispose();
}
