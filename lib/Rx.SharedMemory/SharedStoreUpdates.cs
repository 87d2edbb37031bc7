using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Serialization.Metadata;

namespace Rx.SharedMemory;

/// <summary>Optimistic read-modify-write on any <see cref="ISharedStore"/>.</summary>
public static class SharedStoreUpdates
{
    /// <summary>The default number of compare-and-set attempts of an update.</summary>
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
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static ValueTask<StoreEntry<T>> UpdateAsync<T>(this ISharedStore store, string key, Func<T?, T> update, int maxAttempts = DefaultMaxAttempts, CancellationToken cancellationToken = default)
    {
        // Through the task, as every failure of an *Async method: a null store cannot even give its methods.
        if (store is null)
        {
            return ValueTask.FromException<StoreEntry<T>>(new ArgumentNullException(nameof(store)));
        }

        return UpdateCoreAsync(store, key, update, maxAttempts, store.GetEntryAsync<T>, store.CompareAndSetAsync, cancellationToken);
    }

    /// <summary>
    /// Reads a key, computes its new value and writes it with compare-and-set, with the type's JSON contract, as
    /// <see cref="UpdateAsync{T}(ISharedStore, string, Func{T, T}, int, CancellationToken)"/> does.
    /// </summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="key">The key.</param>
    /// <param name="update">Computes the new value from the current one (<see langword="default"/> when the key does not exist); it may run more than once.</param>
    /// <param name="jsonTypeInfo">How to read and write <typeparamref name="T"/>, such as a source-generated context's property for it.</param>
    /// <param name="maxAttempts">How many times to try before giving up.</param>
    /// <param name="cancellationToken">A token that cancels the update between attempts.</param>
    /// <returns>The value written and its version.</returns>
    /// <exception cref="SharedMemoryVersionConflictException">Every attempt lost to another writer.</exception>
    public static ValueTask<StoreEntry<T>> UpdateAsync<T>(this ISharedStore store, string key, Func<T?, T> update, JsonTypeInfo<T> jsonTypeInfo, int maxAttempts = DefaultMaxAttempts, CancellationToken cancellationToken = default)
    {
        if (store is null || jsonTypeInfo is null)
        {
            return ValueTask.FromException<StoreEntry<T>>(new ArgumentNullException(store is null ? nameof(store) : nameof(jsonTypeInfo)));
        }

        return UpdateCoreAsync(
            store,
            key,
            update,
            maxAttempts,
            (key, cancellationToken) => store.GetEntryAsync(key, jsonTypeInfo, cancellationToken),
            (key, expectedVersion, value, options, cancellationToken) => store.CompareAndSetAsync(key, expectedVersion, value, jsonTypeInfo, options, cancellationToken),
            cancellationToken);
    }

    private static async ValueTask<StoreEntry<T>> UpdateCoreAsync<T>(
        ISharedStore store,
        string key,
        Func<T?, T> update,
        int maxAttempts,
        Func<string, CancellationToken, ValueTask<StoreEntry<T>?>> read,
        Func<string, long, T, SetOptions?, CancellationToken, ValueTask<CompareAndSetResult>> write,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(update);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxAttempts);
        for (int attempt = 1; attempt <= maxAttempts; attempt++)
        {
            var current = await read(key, cancellationToken).ConfigureAwait(false);
            var next = update(current is null ? default : current.Value);
            var result = await write(key, current?.Version ?? 0, next, null, cancellationToken).ConfigureAwait(false);
            if (result.Succeeded)
            {
                return new StoreEntry<T>(next, result.Version);
            }
        }

        throw new SharedMemoryVersionConflictException(key, maxAttempts);
    }
}
