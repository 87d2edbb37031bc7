using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// The embedded engine, except that every operation on a key (or lock name, or subscription's key) under
/// <see cref="FaultPrefix"/> throws an exception the protocol has no code for, as a bug in the master would: what a
/// worker is answered then, and what the master logs, can be tested.
/// </summary>
internal sealed class FaultyEngine(MemoryEngine inner) : IStoreEngine
{
    /// <summary>The keys whose operations fail.</summary>
    public const string FaultPrefix = "fault/";

    /// <summary>The message of the exception thrown: it must not reach a worker.</summary>
    public const string FaultMessage = "A fault of the engine (FaultyEngine)";

    public long Version => inner.Version;

    public int Count => inner.Count;

    public long Bytes => inner.Bytes;

    public int SubscriptionCount => inner.SubscriptionCount;

    public StoreSize? Size => inner.Size;

    public ValueTask<StoredValue?> GetAsync(string key, CancellationToken cancellationToken) => inner.GetAsync(Checked(key), cancellationToken);

    public ValueTask<long> SetAsync(string key, byte[] utf8Json, TimeSpan? timeToLive, long owner, string? traceParent, CancellationToken cancellationToken) =>
        inner.SetAsync(Checked(key), utf8Json, timeToLive, owner, traceParent, cancellationToken);

    public ValueTask<CompareAndSetResult> CompareAndSetAsync(string key, long expectedVersion, byte[] utf8Json, TimeSpan? timeToLive, long owner, string? traceParent, CancellationToken cancellationToken) =>
        inner.CompareAndSetAsync(Checked(key), expectedVersion, utf8Json, timeToLive, owner, traceParent, cancellationToken);

    public ValueTask<(long Value, long Version)> IncrementAsync(string key, long delta, string? traceParent, CancellationToken cancellationToken) =>
        inner.IncrementAsync(Checked(key), delta, traceParent, cancellationToken);

    public ValueTask<long> DeleteAsync(string key, string? traceParent, CancellationToken cancellationToken) => inner.DeleteAsync(Checked(key), traceParent, cancellationToken);

    public Task<long> LockAsync(string name, long owner, TimeSpan timeout, CancellationToken cancellationToken) =>
        inner.LockAsync(Checked(name), owner, timeout, cancellationToken);

    public ValueTask<bool> UnlockAsync(string name, long token, long owner, CancellationToken cancellationToken) => inner.UnlockAsync(name, token, owner, cancellationToken);

    public ValueTask ReleaseOwnerAsync(long owner, CancellationToken cancellationToken) => inner.ReleaseOwnerAsync(owner, cancellationToken);

    public ValueTask<long> CatchUpPointAsync(CancellationToken cancellationToken) => inner.CatchUpPointAsync(cancellationToken);

    public ValueTask CaughtUpAsync(long point, ChangeOutbox outbox, CancellationToken cancellationToken) => inner.CaughtUpAsync(point, outbox, cancellationToken);

    public ValueTask<long> SubscribeAsync(StoreSubscription subscription, long? fromVersion, CancellationToken cancellationToken) =>
        inner.SubscribeAsync(subscription, fromVersion, cancellationToken);

    public long SubscribeLive(StoreSubscription subscription) => inner.SubscribeLive(subscription);

    /// <summary>Unsubscribing is synchronous: a fault here is thrown by the request's handler itself, not through a task.</summary>
    public void Unsubscribe(StoreSubscription subscription)
    {
        inner.Unsubscribe(subscription);
        Checked(subscription.KeyOrPrefix);
    }

    public void Dispose() => inner.Dispose();

    private static string Checked(string key) =>
        key.StartsWith(FaultPrefix, StringComparison.Ordinal) ? throw new NullReferenceException(FaultMessage) : key;
}
