using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Engine;

/// <summary>
/// The seam between the master and the engine that keeps the store: keys and values, the version counter, the change
/// log, expiry, eviction, locks and the keys each owner holds as ephemeral. The master keeps the rest: its workers'
/// connections, their ownership, and the subscriptions' outboxes, which the engine feeds in commit order.
/// </summary>
/// <remarks>
/// Shaped for an engine that is remote (another process, another machine): every operation that reads or commits is
/// asynchronous and takes a <see cref="CancellationToken"/>, while an in-memory engine completes synchronously at no
/// cost (<see cref="ValueTask{TResult}"/>). An operation of the seam commits whole or not at all, and a commit's
/// change reaches the subscriptions it matches in version order. Registering and removing a subscription are the
/// master's own bookkeeping, except for the starting state, which the engine takes atomically with the registration.
/// <para>
/// Internal until a second engine has proven its shape: the engines ship from this repository, in lockstep with it.
/// </para>
/// </remarks>
internal interface IStoreEngine : IDisposable
{
    /// <summary>
    /// The owner of the keys the master writes itself as ephemeral; workers are numbered from 1, and 0 is none. They go
    /// with the master: the embedded store with its process, a store kept elsewhere when the master leaves or its lease
    /// runs out.
    /// </summary>
    const long MasterEphemeralOwner = -1;

    /// <summary>Gets the version of the last committed change.</summary>
    long Version { get; }

    /// <summary>Gets the number of keys.</summary>
    int Count { get; }

    /// <summary>Gets the bytes counted against <see cref="SharedMemoryOptions.MaxBytes"/>.</summary>
    long Bytes { get; }

    /// <summary>Gets the number of registered subscriptions.</summary>
    int SubscriptionCount { get; }

    /// <summary>
    /// Gets the store's size for the master's observed instruments, without waiting, from the thread of whatever
    /// listener collects: read now by an engine in memory; the last value an engine refreshed in the background by a
    /// remote one, or null when it has none (not read yet, or the last read failed).
    /// </summary>
    StoreSize? Size { get; }

    /// <summary>Reads a key, counting as a use for eviction.</summary>
    /// <returns>Its value and version; null when it is absent.</returns>
    ValueTask<StoredValue?> GetAsync(string key, CancellationToken cancellationToken);

    /// <summary>Stores a value.</summary>
    /// <param name="key">The key.</param>
    /// <param name="utf8Json">The value as compact UTF-8 JSON; the engine may keep the array, so the caller must not change it.</param>
    /// <param name="timeToLive">When the key expires; null for never.</param>
    /// <param name="owner">The owner that holds the key as ephemeral (a worker, or <see cref="MasterEphemeralOwner"/>), or 0 for none.</param>
    /// <param name="traceParent">
    /// The W3C <c>traceparent</c> of the operation that writes, which its change carries to the subscriptions it
    /// reaches; null for none. A change the engine makes itself (an expiry, an eviction, a release) carries none.
    /// </param>
    /// <param name="cancellationToken">Cancels before the commit; once committed, the write stands.</param>
    /// <returns>The version of the change.</returns>
    ValueTask<long> SetAsync(string key, byte[] utf8Json, TimeSpan? timeToLive, long owner, string? traceParent, CancellationToken cancellationToken);

    /// <summary>Stores a value only if the key is at <paramref name="expectedVersion"/> (0: absent); its change carries <paramref name="traceParent"/>, as a set's.</summary>
    ValueTask<CompareAndSetResult> CompareAndSetAsync(string key, long expectedVersion, byte[] utf8Json, TimeSpan? timeToLive, long owner, string? traceParent, CancellationToken cancellationToken);

    /// <summary>Adds <paramref name="delta"/> to a key's 64-bit integer (absent: 0); its change carries <paramref name="traceParent"/>, as a set's.</summary>
    /// <returns>The new value and the version of the change.</returns>
    ValueTask<(long Value, long Version)> IncrementAsync(string key, long delta, string? traceParent, CancellationToken cancellationToken);

    /// <summary>Deletes a key; its change carries <paramref name="traceParent"/>, as a set's.</summary>
    /// <returns>The version of the change; 0 when the key was absent.</returns>
    ValueTask<long> DeleteAsync(string key, string? traceParent, CancellationToken cancellationToken);

    /// <summary>Waits for a named lock, queued behind those who asked before.</summary>
    /// <returns>The token that releases it.</returns>
    /// <exception cref="TimeoutException">Not granted within <paramref name="timeout"/>.</exception>
    Task<long> LockAsync(string name, long owner, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>
    /// Releases a lock held with <paramref name="token"/>. When it fails (a remote store out of reach), the engine
    /// releases the lock once it can: nobody else can, since a holder releases its lock once.
    /// </summary>
    /// <param name="name">The lock's name.</param>
    /// <param name="token">The token <see cref="LockAsync"/> gave.</param>
    /// <param name="owner">The owner that took it, as <see cref="LockAsync"/> was given: a remote engine releases it by
    /// the request that took it, where a token alone may name another holding (a store restarted empty counts tokens
    /// from the start again).</param>
    /// <param name="cancellationToken">Ends the call before it is sent.</param>
    /// <returns>False when the token no longer holds it.</returns>
    ValueTask<bool> UnlockAsync(string name, long token, long owner, CancellationToken cancellationToken);

    /// <summary>Releases everything <paramref name="owner"/> holds: its locks and lock waits, and its ephemeral keys, each deletion a change.</summary>
    ValueTask ReleaseOwnerAsync(long owner, CancellationToken cancellationToken);

    /// <summary>
    /// Registers a subscription and, atomically with it, queues what it must see first to its outbox: the current
    /// state (<paramref name="fromVersion"/> null), the logged changes after <paramref name="fromVersion"/>, or the
    /// current state when the log no longer covers that version; then every change committed after.
    /// </summary>
    /// <returns>The version at registration.</returns>
    ValueTask<long> SubscribeAsync(StoreSubscription subscription, long? fromVersion, CancellationToken cancellationToken);

    /// <summary>
    /// Returns what a message sent now must come after: a point at or past every change committed before the call,
    /// through this master or any other of the store (<see cref="CaughtUpAsync"/> reads it).
    /// </summary>
    ValueTask<long> CatchUpPointAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Completes once every change up to <paramref name="point"/> (<see cref="CatchUpPointAsync"/>) is in
    /// <paramref name="outbox"/> if it goes there: a message queued on it after this comes after those changes.
    /// </summary>
    ValueTask CaughtUpAsync(long point, ChangeOutbox outbox, CancellationToken cancellationToken);

    /// <summary>Registers a subscription that receives only the changes committed from now on.</summary>
    /// <returns>The version at registration.</returns>
    long SubscribeLive(StoreSubscription subscription);

    /// <summary>Removes a subscription; nothing reaches its outbox once this returns.</summary>
    void Unsubscribe(StoreSubscription subscription);

    /// <summary>
    /// Opens a batch: the operations the caller's flow starts until it is disposed may be sent to the engine together
    /// when it is, each committing or failing as it would alone, in the order they were started. For a remote engine,
    /// one round trip instead of one each. Null (the default) for an engine that gains nothing by it. Once the batch's
    /// gets have read more than <paramref name="getBytesBudget"/> bytes of values, it runs no further operation: those
    /// fail with <see cref="CallNotRunException"/>, a tail of the batch that had no effect.
    /// </summary>
    /// <param name="getBytesBudget">The bytes of values the batch's gets may read, past which it runs no further operation; -1 for no bound.</param>
    /// <returns>What sends the batch when disposed; null when there is none (an engine in memory, a batch already open).</returns>
    IDisposable? BeginBatch(long getBytesBudget = -1) => null;
}
