using System.Runtime.CompilerServices;

namespace Rx.SharedMemory;

/// <summary>
/// <c>await foreach</c> forms of <see cref="ISharedStore.Observe"/> and <see cref="ISharedStore.ObservePrefix"/>, and
/// mirrors built on them.
/// </summary>
public static class SharedStoreExtensions
{
    /// <summary>The default number of changes an enumeration buffers before it conflates changes to the same key.</summary>
    public const int DefaultBufferCapacity = 10_000;

    /// <summary>Enumerates the changes of one key, with the semantics of <see cref="ISharedStore.Observe"/>.</summary>
    /// <param name="store">The store.</param>
    /// <param name="key">The key.</param>
    /// <param name="fromVersion">As for <see cref="ISharedStore.Observe"/>.</param>
    /// <param name="bufferCapacity">
    /// How many changes may wait for a slow consumer before changes to the same key are conflated to the latest (which
    /// then reports how many it replaced in <see cref="KeyChange.SkippedVersions"/>).
    /// </param>
    /// <param name="cancellationToken">Ends the enumeration (with <see cref="OperationCanceledException"/>) and the subscription.</param>
    /// <returns>
    /// The changes, in order; the enumeration throws what ends the observable (such as
    /// <see cref="SharedMemoryDisconnectedException"/>). Nothing is checked or subscribed until the enumeration
    /// starts: a bad argument fails the first <c>MoveNextAsync</c>, through its task, not this call.
    /// </returns>
    /// <exception cref="ArgumentException">From the first <c>MoveNextAsync</c>: <paramref name="store"/> or <paramref name="key"/> is null, <paramref name="key"/> is not a valid key, or <paramref name="bufferCapacity"/> is not positive.</exception>
    public static IAsyncEnumerable<KeyChange> WatchAsync(this ISharedStore store, string key, long? fromVersion = null, int bufferCapacity = DefaultBufferCapacity, CancellationToken cancellationToken = default) =>
        EnumerateAsync(store, key, prefix: false, fromVersion, bufferCapacity, cancellationToken);

    /// <summary>Enumerates the changes of every key under a prefix, with the semantics of <see cref="ISharedStore.ObservePrefix"/>.</summary>
    /// <param name="store">The store.</param>
    /// <param name="prefix">The prefix; empty for every key.</param>
    /// <param name="fromVersion">As for <see cref="ISharedStore.ObservePrefix"/>.</param>
    /// <param name="bufferCapacity">As for <see cref="WatchAsync"/>.</param>
    /// <param name="cancellationToken">Ends the enumeration and the subscription.</param>
    /// <returns>The changes, in order; as for <see cref="WatchAsync"/>, a bad argument fails the first <c>MoveNextAsync</c>, not this call.</returns>
    /// <exception cref="ArgumentException">From the first <c>MoveNextAsync</c>: <paramref name="store"/> or <paramref name="prefix"/> is null, <paramref name="prefix"/> is not valid UTF-16, or <paramref name="bufferCapacity"/> is not positive.</exception>
    public static IAsyncEnumerable<KeyChange> WatchPrefixAsync(this ISharedStore store, string prefix, long? fromVersion = null, int bufferCapacity = DefaultBufferCapacity, CancellationToken cancellationToken = default) =>
        EnumerateAsync(store, prefix, prefix: true, fromVersion, bufferCapacity, cancellationToken);

    /// <summary>
    /// Makes a mirror of every key under a prefix: an in-process, read-only copy kept current by
    /// <see cref="ISharedStore.ObservePrefix"/>, read synchronously. Writes this process makes through
    /// <paramref name="store"/> show in it as soon as their call returns.
    /// </summary>
    /// <param name="store">The store.</param>
    /// <param name="prefix">The prefix; empty for every key.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the prefix's state.</param>
    /// <returns>The mirror, once it holds the prefix's whole state; dispose it to end its subscription.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> or <paramref name="prefix"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="prefix"/> is not valid UTF-16 (a lone surrogate).</exception>
    /// <exception cref="SharedMemoryLimitExceededException"><paramref name="prefix"/> is longer than the master's <see cref="SharedMemoryOptions.MaxKeyLength"/>, or the subscription would pass its <see cref="SharedMemoryOptions.MaxSubscriptionsPerConnection"/>.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="SharedMemoryUnavailableException">The store cannot be reached (Redis out of reach).</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed, before or while the state arrived.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static Task<SharedStoreMirror> MirrorAsync(this ISharedStore store, string prefix, CancellationToken cancellationToken = default)
    {
        try
        {
            ArgumentNullException.ThrowIfNull(store);
            ArgumentNullException.ThrowIfNull(prefix);
            return SharedStoreMirror.StartAsync(store, prefix, cancellationToken);
        }
        catch (Exception ex)
        {
            return Task.FromException<SharedStoreMirror>(ex);
        }
    }

    private static async IAsyncEnumerable<KeyChange> EnumerateAsync(ISharedStore store, string keyOrPrefix, bool prefix, long? fromVersion, int bufferCapacity, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Checked on the first MoveNextAsync, as an iterator runs: a bad argument fails that step's task, as every
        // *Async method fails through its task.
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bufferCapacity);
        var source = prefix ? store.ObservePrefix(keyOrPrefix, fromVersion) : store.Observe(keyOrPrefix, fromVersion);
        var buffer = new KeyChangeBuffer(bufferCapacity);
        using var subscription = source.Subscribe(buffer);
        var batch = new List<KeyChange>();
        while (await buffer.TakeAsync(batch, cancellationToken).ConfigureAwait(false))
        {
            foreach (var change in batch)
            {
                // At every step, not only while waiting: a consumer slower than the writer always finds changes waiting.
                cancellationToken.ThrowIfCancellationRequested();
                yield return change;
            }

            batch.Clear();
        }
    }
}
