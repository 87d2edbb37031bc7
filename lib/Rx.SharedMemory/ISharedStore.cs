using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Rx.SharedMemory;

/// <summary>
/// The shared key/value store, with the same API in the master (<see cref="SharedMemoryMaster.Store"/>) and in a
/// worker (<see cref="SharedMemoryWorker"/>).
/// </summary>
/// <remarks>
/// <para>
/// Values are JSON, written and read with System.Text.Json. The methods that take a <see cref="JsonTypeInfo{T}"/>
/// (from a source-generated <see cref="System.Text.Json.Serialization.JsonSerializerContext"/>) use only it, and are
/// safe under trimming and Native AOT. The others use the store's <see cref="JsonSerializerOptions"/>
/// (<see cref="SharedMemoryOptions.JsonSerializerOptions"/> in the master, <see cref="SharedMemoryWorkerOptions.JsonSerializerOptions"/>
/// in a worker; System.Text.Json's defaults when not set, so a <see cref="byte"/> array travels as a base64 string),
/// resolving the value's type at run time, as <see cref="JsonSerializer.Serialize{TValue}(TValue, JsonSerializerOptions?)"/>
/// does: they may need code that trimming removes or that Native AOT cannot make.
/// </para>
/// <para>Every committed mutation gets the next value of one store-wide version counter.</para>
/// </remarks>
public interface ISharedStore
{
    /// <summary>The message of the typed methods that resolve their type at run time.</summary>
    internal const string ReflectionMessage = "Reads or writes the value with the store's JsonSerializerOptions, which may need reflection on the value's type. Use the overload that takes a JsonTypeInfo<T> (from a source-generated JsonSerializerContext) for trimming and Native AOT.";

    /// <summary>Reads a key's value.</summary>
    /// <typeparam name="T">The type to read the value as.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer.</param>
    /// <returns>The value, or <see langword="default"/> when the key does not exist.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    [RequiresUnreferencedCode(ReflectionMessage)]
    [RequiresDynamicCode(ReflectionMessage)]
    ValueTask<T?> GetAsync<T>(string key, CancellationToken cancellationToken = default);

    /// <summary>Reads a key's value together with the version of its last change.</summary>
    /// <typeparam name="T">The type to read the value as.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer.</param>
    /// <returns>The entry, or <see langword="null"/> when the key does not exist.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    [RequiresUnreferencedCode(ReflectionMessage)]
    [RequiresDynamicCode(ReflectionMessage)]
    ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, CancellationToken cancellationToken = default);

    /// <summary>Writes a key's value.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="value">The value; anything System.Text.Json can serialize.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer (the write may still be committed).</param>
    /// <returns>The version the write was committed at.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The key or the value is larger than the master allows.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    [RequiresUnreferencedCode(ReflectionMessage)]
    [RequiresDynamicCode(ReflectionMessage)]
    ValueTask<long> SetAsync<T>(string key, T value, CancellationToken cancellationToken = default);

    /// <summary>Writes a key's value with a time to live, or as ephemeral.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="options">How the key is kept.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer (the write may still be committed).</param>
    /// <returns>The version the write was committed at.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty, a time to live is not positive, or the value's JSON escapes a lone surrogate (which no worker could read back), as JSON written raw by a converter can.</exception>
    /// <exception cref="JsonException">The value cannot be written as JSON, such as a <see cref="JsonElement"/> that holds a lone surrogate; the message names the key. (A .NET string with a lone surrogate is written with U+FFFD in its place, as System.Text.Json writes it.)</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The key or the value is larger than the master allows, or the store is full under <see cref="EvictionPolicy.NoEviction"/>.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    [RequiresUnreferencedCode(ReflectionMessage)]
    [RequiresDynamicCode(ReflectionMessage)]
    ValueTask<long> SetAsync<T>(string key, T value, SetOptions options, CancellationToken cancellationToken = default);

    /// <summary>Writes a key's value only if the key is still at the version the caller last saw.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="expectedVersion">The version the key must have; 0 for "the key must not exist".</param>
    /// <param name="value">The value.</param>
    /// <param name="options">How the key is kept; <see langword="null"/> for plainly.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer (the write may still be committed).</param>
    /// <returns>Whether it was written, and the key's version after the call.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The key or the value is larger than the master allows.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    [RequiresUnreferencedCode(ReflectionMessage)]
    [RequiresDynamicCode(ReflectionMessage)]
    ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, SetOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Reads a key's value together with the version of its last change, with the type's JSON contract.</summary>
    /// <typeparam name="T">The type to read the value as.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="jsonTypeInfo">How to read <typeparamref name="T"/>, such as a source-generated context's property for it.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer.</param>
    /// <returns>The entry, or <see langword="null"/> when the key does not exist.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="JsonException">The value cannot be read as <typeparamref name="T"/>; the message names the key.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default);

    /// <summary>Writes a key's value with the type's JSON contract.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="jsonTypeInfo">How to write <typeparamref name="T"/>, such as a source-generated context's property for it.</param>
    /// <param name="options">How the key is kept; <see langword="null"/> for plainly.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer (the write may still be committed).</param>
    /// <returns>The version the write was committed at.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty, a time to live is not positive, or the value's JSON escapes a lone surrogate (which no worker could read back), as JSON written raw by a converter can.</exception>
    /// <exception cref="JsonException">The value cannot be written as JSON, such as a <see cref="JsonElement"/> that holds a lone surrogate; the message names the key. (A .NET string with a lone surrogate is written with U+FFFD in its place, as System.Text.Json writes it.)</exception>
    /// <exception cref="ArgumentNullException"><paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The key or the value is larger than the master allows, or the store is full under <see cref="EvictionPolicy.NoEviction"/>.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    ValueTask<long> SetAsync<T>(string key, T value, JsonTypeInfo<T> jsonTypeInfo, SetOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Writes a key's value, with the type's JSON contract, only if the key is still at the version the caller last saw.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="expectedVersion">The version the key must have; 0 for "the key must not exist".</param>
    /// <param name="value">The value.</param>
    /// <param name="jsonTypeInfo">How to write <typeparamref name="T"/>, such as a source-generated context's property for it.</param>
    /// <param name="options">How the key is kept; <see langword="null"/> for plainly.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer (the write may still be committed).</param>
    /// <returns>Whether it was written, and the key's version after the call.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The key or the value is larger than the master allows.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, JsonTypeInfo<T> jsonTypeInfo, SetOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Adds to an integer value atomically; an absent key counts as 0. The key keeps its time to live.</summary>
    /// <param name="key">The key.</param>
    /// <param name="delta">What to add (negative to subtract).</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer (the change may still be committed).</param>
    /// <returns>The new value and its version.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="InvalidOperationException">The key holds something other than an integer, or the sum overflows.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    ValueTask<StoreEntry<long>> IncrementAsync(string key, long delta = 1, CancellationToken cancellationToken = default);

    /// <summary>
    /// Waits for a named lock. At most one holder at a time; waiters are served in the order they asked; a lock held
    /// by a worker that disconnects or dies is released at once.
    /// </summary>
    /// <param name="name">The lock's name (locks are not keys).</param>
    /// <param name="timeout">How long to wait for it: zero or more, however long; <see cref="TimeSpan.MaxValue"/> waits until it is granted or the wait is cancelled.</param>
    /// <param name="cancellationToken">A token that cancels the wait.</param>
    /// <returns>The held lock: dispose it to release it.</returns>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null or empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative.</exception>
    /// <exception cref="SharedMemoryLimitExceededException"><paramref name="name"/> is longer than the master's MaxKeyLength.</exception>
    /// <exception cref="TimeoutException">The lock was not granted within <paramref name="timeout"/>.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    ValueTask<IAsyncDisposable> AcquireLockAsync(string name, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>Deletes a key.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">A token that cancels the wait for the answer (the delete may still be committed).</param>
    /// <returns><see langword="true"/> when the key existed and was deleted; no version is used otherwise.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="ObjectDisposedException">The store was disposed.</exception>
    ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Observes one key.</summary>
    /// <param name="key">The key.</param>
    /// <param name="fromVersion">
    /// <see langword="null"/> to receive the key's current state first and then every later change; or a version
    /// already seen, to receive every change after it. The state is one <see cref="KeyChangeKind.Reset"/>: of an
    /// existing key, with its value and its version; of an absent key, with <see cref="KeyChange.Exists"/>
    /// <see langword="false"/>, no value, and the store version at which it was found absent. When
    /// <paramref name="fromVersion"/> is older than the master's change log, that <see cref="KeyChangeKind.Reset"/>
    /// comes first instead of the lost changes. Once the first change has arrived, the subscriber is in sync.
    /// </param>
    /// <returns>
    /// A cold observable: each subscription registers with the master, and disposing it unregisters. It ends with
    /// <see cref="SharedMemoryDisconnectedException"/> when the connection to the master is lost, and completes when
    /// the store is disposed. A subscription made once the connection is lost, or the store disposed, ends at once
    /// with <see cref="SharedMemoryDisconnectedException"/> or <see cref="ObjectDisposedException"/> (<c>OnError</c>),
    /// as every other call then fails; <see cref="Observe"/> itself does not throw for them.
    /// </returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null or empty, or not valid UTF-16 (a lone surrogate).</exception>
    IObservable<KeyChange> Observe(string key, long? fromVersion = null);

    /// <summary>Observes every key that starts with a prefix, with the same rules as <see cref="Observe"/>.</summary>
    /// <param name="prefix">The prefix; an empty string observes every key.</param>
    /// <param name="fromVersion">
    /// As for <see cref="Observe"/>. The current state of a prefix is a <see cref="KeyChangeKind.PrefixReset"/> followed
    /// by one <see cref="KeyChangeKind.Reset"/> per existing key under it.
    /// </param>
    /// <returns>A cold observable, as for <see cref="Observe"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="prefix"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="prefix"/> is not valid UTF-16 (a lone surrogate).</exception>
    IObservable<KeyChange> ObservePrefix(string prefix, long? fromVersion = null);
}
