using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Rx.SharedMemory.Serialization;

namespace Rx.SharedMemory;

/// <summary>
/// Typed calls of an <see cref="ISharedStore"/> with the serialization given per call: a
/// <see cref="JsonTypeInfo{T}"/> (trimming- and Native AOT-safe), or <see cref="JsonSerializerOptions"/> in place of
/// the store's own.
/// </summary>
public static class SharedStoreJsonExtensions
{
    /// <summary>Reads a key's value with the type's JSON contract.</summary>
    /// <typeparam name="T">The type to read the value as.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="key">The key.</param>
    /// <param name="jsonTypeInfo">How to read <typeparamref name="T"/>, such as a source-generated context's property for it.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer.</param>
    /// <returns>The value, or <see langword="default"/> when the key does not exist.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> or <paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="JsonException">The value cannot be read as <typeparamref name="T"/>; the message names the key.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    public static async ValueTask<T?> GetAsync<T>(this ISharedStore store, string key, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var entry = await store.GetEntryAsync(key, jsonTypeInfo, cancellationToken).ConfigureAwait(false);
        return entry is null ? default : entry.Value;
    }

    /// <summary>Reads a key's value with the options given instead of the store's.</summary>
    /// <typeparam name="T">The type to read the value as.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="key">The key.</param>
    /// <param name="options">The serializer options; they are made read-only.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer.</param>
    /// <returns>The value, or <see langword="default"/> when the key does not exist.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="JsonException">The value cannot be read as <typeparamref name="T"/>; the message names the key.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static ValueTask<T?> GetAsync<T>(this ISharedStore store, string key, JsonSerializerOptions options, CancellationToken cancellationToken = default)
    {
        if (store is null || options is null)
        {
            return ValueTask.FromException<T?>(new ArgumentNullException(store is null ? nameof(store) : nameof(options)));
        }

        return ValueJson.TryTypeInfo<T>(options, key, writing: false, out var typeInfo, out var error) ? store.GetAsync(key, typeInfo, cancellationToken) : ValueTask.FromException<T?>(error);
    }

    /// <summary>Reads a key's value with the version of its last change, with the options given instead of the store's.</summary>
    /// <typeparam name="T">The type to read the value as.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="key">The key.</param>
    /// <param name="options">The serializer options; they are made read-only.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer.</param>
    /// <returns>The entry, or <see langword="null"/> when the key does not exist.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="JsonException">The value cannot be read as <typeparamref name="T"/>; the message names the key.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static ValueTask<StoreEntry<T>?> GetEntryAsync<T>(this ISharedStore store, string key, JsonSerializerOptions options, CancellationToken cancellationToken = default)
    {
        if (store is null || options is null)
        {
            return ValueTask.FromException<StoreEntry<T>?>(new ArgumentNullException(store is null ? nameof(store) : nameof(options)));
        }

        return ValueJson.GetEntryAsync<T>(store, options, key, cancellationToken);
    }

    /// <summary>Writes a key's value with the options given instead of the store's.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="options">The serializer options; they are made read-only.</param>
    /// <param name="setOptions">How the key is kept; <see langword="null"/> for plainly.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer (the write may still be committed).</param>
    /// <returns>The version the write was committed at.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty, or a time to live is not positive.</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The key or the value is larger than the master allows, or the store is full under <see cref="EvictionPolicy.NoEviction"/>.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static ValueTask<long> SetAsync<T>(this ISharedStore store, string key, T value, JsonSerializerOptions options, SetOptions? setOptions = null, CancellationToken cancellationToken = default)
    {
        if (store is null || options is null)
        {
            return ValueTask.FromException<long>(new ArgumentNullException(store is null ? nameof(store) : nameof(options)));
        }

        return ValueJson.SetAsync(store, options, key, value, setOptions, cancellationToken);
    }

    /// <summary>Writes a key's value, with the options given instead of the store's, only if the key is still at the version the caller last saw.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="key">The key.</param>
    /// <param name="expectedVersion">The version the key must have; 0 for "the key must not exist".</param>
    /// <param name="value">The value.</param>
    /// <param name="options">The serializer options; they are made read-only.</param>
    /// <param name="setOptions">How the key is kept; <see langword="null"/> for plainly.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer (the write may still be committed).</param>
    /// <returns>Whether it was written, and the key's version after the call.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The key or the value is larger than the master allows.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(this ISharedStore store, string key, long expectedVersion, T value, JsonSerializerOptions options, SetOptions? setOptions = null, CancellationToken cancellationToken = default)
    {
        if (store is null || options is null)
        {
            return ValueTask.FromException<CompareAndSetResult>(new ArgumentNullException(store is null ? nameof(store) : nameof(options)));
        }

        return ValueJson.CompareAndSetAsync(store, options, key, expectedVersion, value, setOptions, cancellationToken);
    }
}
