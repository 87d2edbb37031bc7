namespace Rx.SharedMemory;

/// <summary>Optimistic read-modify-write on any <see cref="ISharedStore"/>.</summary>
public static class SharedStoreUpdates
{
    /// <summary>The default number of compare-and-set attempts of <see cref="UpdateAsync"/>.</summary>
    public const int DefaultMaxAttempts = 100;

    /// <summary>
    /// Reads a key, computes its new value and writes it with compare-and-set, again from a fresh read each time
    /// another writer got there first, until it wins. <paramref name="update"/> may run more than once, so it must
    /// have no side effects.
    /// </summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="key">The key.</param>
    /// <param name="update">Computes the new value from the current one (<see langword="default"/> when the key does not exist).</param>
    /// <param name="maxAttempts">How many times to try before giving up.</param>
    /// <param name="cancellationToken">A token that cancels the update between attempts.</param>
    /// <returns>The value written and its version.</returns>
    /// <exception cref="SharedMemoryVersionConflictException">Every attempt lost to another writer.</exception>
    public static async ValueTask<StoreEntry<T>> UpdateAsync<T>(this ISharedStore store, string key, Func<T?, T> update, int maxAttempts = DefaultMaxAttempts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(update);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxAttempts);
        for (int attempt = 1; attempt <= maxAttempts; attempt++)
        {
            var current = await store.GetEntryAsync<T>(key, cancellationToken).ConfigureAwait(false);
            var next = update(current is null ? default : current.Value);
            var result = await store.CompareAndSetAsync(key, current?.Version ?? 0, next, options: null, cancellationToken).ConfigureAwait(false);
            if (result.Succeeded)
            {
                return new StoreEntry<T>(next, result.Version);
            }
        }

        throw new SharedMemoryVersionConflictException(key, maxAttempts);
    }
}
