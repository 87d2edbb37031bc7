using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Mirror;
using Rx.SharedMemory.Serialization;

namespace Rx.SharedMemory.Redis;

/// <summary>
/// A store kept in Redis, used from a process that is not a worker of any master: the same API as a worker's store,
/// with its own connection to Redis. Its locks and ephemeral keys are released when it is disposed, or by the other
/// masters once its lease runs out if it dies.
/// </summary>
public sealed class RedisSharedStore : ISharedStore, IAsyncDisposable, IOwnWriteSource, IValueOptionsSource
{
    private readonly RedisEngine engine;
    private readonly LocalStore store;

    // Its subscribers' conflations are counted here, as a master's are: on the options' factory's meter, or its own.
    private readonly MasterMetrics metrics;
    private int disposed;

    internal RedisSharedStore(RedisEngine engine, SharedMemoryOptions options, ILogger logger)
    {
        this.engine = engine;
        this.metrics = new MasterMetrics(options.MeterFactory);
        this.store = new LocalStore(engine, options, logger, typeof(RedisSharedStore), this.metrics);
    }

    /// <summary>Gets its engine, for tests.</summary>
    internal RedisEngine Engine => this.engine;

    /// <summary>Gets the version of the store's last committed change (a round trip to Redis).</summary>
    public long Version => this.engine.Version;

    /// <inheritdoc/>
    OwnWrites IOwnWriteSource.OwnWrites => this.store.OwnWrites;

    /// <inheritdoc/>
    JsonSerializerOptions? IValueOptionsSource.ValueOptions => this.store.ValueOptions;

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<T?> GetAsync<T>(string key, CancellationToken cancellationToken = default) => this.store.GetAsync<T>(key, cancellationToken);

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, CancellationToken cancellationToken = default) => this.store.GetEntryAsync<T>(key, cancellationToken);

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<long> SetAsync<T>(string key, T value, CancellationToken cancellationToken = default) => this.store.SetAsync(key, value, cancellationToken);

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<long> SetAsync<T>(string key, T value, SetOptions options, CancellationToken cancellationToken = default) => this.store.SetAsync(key, value, options, cancellationToken);

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, SetOptions? options = null, CancellationToken cancellationToken = default) =>
        this.store.CompareAndSetAsync(key, expectedVersion, value, options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default) => this.store.GetEntryAsync(key, jsonTypeInfo, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> SetAsync<T>(string key, T value, JsonTypeInfo<T> jsonTypeInfo, SetOptions? options = null, CancellationToken cancellationToken = default) =>
        this.store.SetAsync(key, value, jsonTypeInfo, options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, JsonTypeInfo<T> jsonTypeInfo, SetOptions? options = null, CancellationToken cancellationToken = default) =>
        this.store.CompareAndSetAsync(key, expectedVersion, value, jsonTypeInfo, options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<StoreEntry<long>> IncrementAsync(string key, long delta = 1, CancellationToken cancellationToken = default) => this.store.IncrementAsync(key, delta, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<IAsyncDisposable> AcquireLockAsync(string name, TimeSpan timeout, CancellationToken cancellationToken = default) => this.store.AcquireLockAsync(name, timeout, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default) => this.store.DeleteAsync(key, cancellationToken);

    /// <inheritdoc/>
    public IObservable<KeyChange> Observe(string key, long? fromVersion = null) => this.store.Observe(key, fromVersion);

    /// <inheritdoc/>
    public IObservable<KeyChange> ObservePrefix(string prefix, long? fromVersion = null) => this.store.ObservePrefix(prefix, fromVersion);

    /// <summary>Completes every subscription, releases this process's locks, and closes the connection to Redis. Idempotent.</summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref this.disposed, 1) != 0)
        {
            return;
        }

        this.store.Shutdown();
        try
        {
            await this.engine.ReleaseOwnerAsync(0, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            this.engine.Dispose();
            this.metrics.Dispose();
        }
    }
}
