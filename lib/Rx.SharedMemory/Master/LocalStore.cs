using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Logging;
using Rx.SharedMemory.Mirror;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Serialization;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Master;

/// <summary>
/// The store as the master's own code sees it: the same <see cref="ISharedStore"/> as a worker's, without a pipe. A
/// write starts no activity; its change carries the <c>traceparent</c> of the caller's current activity, if any.
/// </summary>
internal sealed class LocalStore : ISharedStore, IOwnWriteSource, IValueOptionsSource
{
    private readonly IStoreEngine engine;
    private readonly SharedMemoryOptions options;
    private readonly ILogger logger;

    // The type users hold and dispose (the master, or a store of its own), named when a call fails after that.
    private readonly Type owner;

    // Concurrent, no lock: added by Observe on the subscriber's thread, removed by a subscription's end on any thread.
    private readonly ConcurrentDictionary<LocalSubscription, bool> subscriptions = new();
    /// <summary>The owner of the locks the master takes itself; workers are numbered from 1.</summary>
    private const long MasterOwner = 0;

    // Where its subscriptions' conflations are counted; thread-safe.
    private readonly MasterMetrics metrics;

    // No lock: taken with Interlocked.Increment by Observe on any thread, so that each subscription has its own id.
    private long nextSubscriptionId;

    // No lock: set once by Shutdown, read by every call (volatile); a subscription registered as it is set is ended
    // by the check after its registration.
    private volatile bool disposed;

    public LocalStore(IStoreEngine engine, SharedMemoryOptions options, ILogger logger, Type owner, MasterMetrics? metrics = null)
    {
        this.metrics = metrics ?? MasterMetrics.Unowned;
        this.engine = engine;
        this.options = options;
        this.logger = logger;
        this.owner = owner;
    }

    public OwnWrites OwnWrites { get; } = new();

    /// <summary>Gets the store-wide options of values, read-only; <see langword="null"/> for System.Text.Json's defaults.</summary>
    public JsonSerializerOptions? ValueOptions => this.options.JsonSerializerOptions;

    // Every *Async method is async, so that it reports failure through its task, never by throwing at the call site: a
    // caller that issues several calls before awaiting them gets every one run, as a worker's do.
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public async ValueTask<T?> GetAsync<T>(string key, CancellationToken cancellationToken = default)
    {
        var entry = await this.GetEntryAsync<T>(key, cancellationToken).ConfigureAwait(false);
        return entry is null ? default : entry.Value;
    }

    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, CancellationToken cancellationToken = default) =>
        ValueJson.GetEntryAsync<T>(this, this.ValueOptions, key, cancellationToken);

    public ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        return jsonTypeInfo is null
            ? ValueTask.FromException<StoreEntry<T>?>(new ArgumentNullException(nameof(jsonTypeInfo)))
            : this.ReadAsync(key, jsonTypeInfo, cancellationToken);
    }

    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<long> SetAsync<T>(string key, T value, CancellationToken cancellationToken = default) =>
        ValueJson.SetAsync(this, this.ValueOptions, key, value, setOptions: null, cancellationToken);

    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<long> SetAsync<T>(string key, T value, SetOptions options, CancellationToken cancellationToken = default) =>
        options is null
            ? ValueTask.FromException<long>(new ArgumentNullException(nameof(options)))
            : ValueJson.SetAsync(this, this.ValueOptions, key, value, options, cancellationToken);

    public async ValueTask<long> SetAsync<T>(string key, T value, JsonTypeInfo<T> jsonTypeInfo, SetOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        options?.Validate();
        this.ThrowIfUnusable(cancellationToken);
        using var activity = StoreActivities.StartLocal(RpcMethods.Set);
        try
        {
            return await this.SetCoreAsync(key, Serialize(key, value, jsonTypeInfo), options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (StoreActivities.Failed(activity, ex))
        {
            throw;
        }
    }

    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, SetOptions? options = null, CancellationToken cancellationToken = default) =>
        ValueJson.CompareAndSetAsync(this, this.ValueOptions, key, expectedVersion, value, options, cancellationToken);

    public async ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, JsonTypeInfo<T> jsonTypeInfo, SetOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        options?.Validate();
        this.ThrowIfUnusable(cancellationToken);
        using var activity = StoreActivities.StartLocal(RpcMethods.CompareAndSet);
        try
        {
            byte[] json = Serialize(key, value, jsonTypeInfo);
            bool mirrored = this.OwnWrites.Begin(key);
            var call = this.engine.CompareAndSetAsync(key, expectedVersion, json, options?.TimeToLive, OwnerOf(options), TraceParent.Current(), cancellationToken);
            return await (mirrored ? this.OwnWrites.ReportAsync(key, call, (own, key, result) => own.CompareAndSet(key, json, result.Succeeded, result.Version)) : call).ConfigureAwait(false);
        }
        catch (Exception ex) when (StoreActivities.Failed(activity, ex))
        {
            throw;
        }
    }

    public async ValueTask<StoreEntry<long>> IncrementAsync(string key, long delta = 1, CancellationToken cancellationToken = default)
    {
        this.ThrowIfUnusable(cancellationToken);
        using var activity = StoreActivities.StartLocal(RpcMethods.Increment);
        try
        {
            bool mirrored = this.OwnWrites.Begin(key);
            var call = this.engine.IncrementAsync(key, delta, TraceParent.Current(), cancellationToken);
            var (value, version) = await (mirrored ? this.OwnWrites.ReportAsync(key, call, static (own, key, result) => own.Set(key, result.Value, result.Version)) : call).ConfigureAwait(false);
            return new StoreEntry<long>(value, version);
        }
        catch (Exception ex) when (StoreActivities.Failed(activity, ex))
        {
            throw;
        }
    }

    public async ValueTask<IAsyncDisposable> AcquireLockAsync(string name, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        this.ThrowIfUnusable(cancellationToken);

        // As a worker refuses it: zero or more (a negative one was granted on a free lock, and queued a waiter on a held one).
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        InputRules.ThrowIfBadLockName(name, this.options.MaxKeyLength);
        using var activity = StoreActivities.StartLocal(RpcMethods.Lock);
        try
        {
            long token = await this.engine.LockAsync(name, MasterOwner, timeout, cancellationToken).ConfigureAwait(false);
            return new HeldLock(this.engine, name, token);
        }
        catch (Exception ex) when (StoreActivities.Failed(activity, ex))
        {
            throw;
        }
    }

    public async ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        this.ThrowIfUnusable(cancellationToken);
        using var activity = StoreActivities.StartLocal(RpcMethods.Delete);
        try
        {
            bool mirrored = this.OwnWrites.Begin(key);
            var call = this.engine.DeleteAsync(key, TraceParent.Current(), cancellationToken);
            return await (mirrored ? this.OwnWrites.ReportAsync(key, call, static (own, key, version) => own.Deleted(key, version)) : call).ConfigureAwait(false) != 0;
        }
        catch (Exception ex) when (StoreActivities.Failed(activity, ex))
        {
            throw;
        }
    }

    public IObservable<KeyChange> Observe(string key, long? fromVersion = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        InputRules.ThrowIfNotUtf16(key, nameof(key)); // at the call, as a worker's store does
        return this.ObserveCore(key, isPrefix: false, fromVersion, live: false, this.options.SubscriberQueueCapacity, this.options.SubscriberQueueMaxBytes);
    }

    public IObservable<KeyChange> ObservePrefix(string prefix, long? fromVersion = null)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        InputRules.ThrowIfNotUtf16(prefix, nameof(prefix));
        return this.ObserveCore(prefix, isPrefix: true, fromVersion, live: false, this.options.SubscriberQueueCapacity, this.options.SubscriberQueueMaxBytes);
    }

    /// <summary>Every change committed after the moment of subscription, with no initial state, queued for the observer within the bounds given.</summary>
    public IObservable<KeyChange> ObserveAllLive(int queueCapacity, long queueMaxBytes) => this.ObserveCore(string.Empty, isPrefix: true, fromVersion: null, live: true, queueCapacity, queueMaxBytes);

    /// <summary>Completes every in-process subscription; later calls throw <see cref="ObjectDisposedException"/>, and later subscriptions end with it.</summary>
    public void Shutdown()
    {
        this.disposed = true;
        foreach (var subscription in this.subscriptions.Keys)
        {
            subscription.Complete();
        }
    }

    private async ValueTask<StoreEntry<T>?> ReadAsync<T>(string key, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken)
    {
        this.ThrowIfUnusable(cancellationToken);
        using var activity = StoreActivities.StartLocal(RpcMethods.Get);
        try
        {
            if (await this.engine.GetAsync(key, cancellationToken).ConfigureAwait(false) is not { } stored)
            {
                return null;
            }

            try
            {
                return new StoreEntry<T>(JsonSerializer.Deserialize(stored.Value, jsonTypeInfo)!, stored.Version);
            }
            catch (Exception ex) when (ValueErrors.IsSerializerError(ex))
            {
                throw ValueErrors.Unreadable(key, typeof(T), ex);
            }
        }
        catch (Exception ex) when (StoreActivities.Failed(activity, ex))
        {
            throw;
        }
    }

    /// <summary>The owner a write of the master's gives its key: the master's own when it is ephemeral, else none.</summary>
    private static long OwnerOf(SetOptions? options) => options is { Ephemeral: true } ? IStoreEngine.MasterEphemeralOwner : 0;

    private ValueTask<long> SetCoreAsync(string key, byte[] json, SetOptions? options, CancellationToken cancellationToken)
    {
        bool mirrored = this.OwnWrites.Begin(key);
        var call = this.engine.SetAsync(key, json, options?.TimeToLive, OwnerOf(options), TraceParent.Current(), cancellationToken);
        return mirrored ? this.OwnWrites.ReportAsync(key, call, (own, key, version) => own.Set(key, json, version)) : call;
    }

    private static byte[] Serialize<T>(string key, T value, JsonTypeInfo<T> jsonTypeInfo)
    {
        try
        {
            return JsonSerializer.SerializeToUtf8Bytes(value, jsonTypeInfo);
        }
        catch (Exception ex) when (ValueErrors.IsSerializerError(ex))
        {
            throw ValueErrors.Unwritable(key, typeof(T), ex);
        }
    }

    private IObservable<KeyChange> ObserveCore(string keyOrPrefix, bool isPrefix, long? fromVersion, bool live, int queueCapacity, long queueMaxBytes) =>
        Observable.Create<KeyChange>(observer =>
        {
            if (this.disposed)
            {
                // As every other call of a disposed store fails: through the observer, as a refusal does.
                observer.OnError(new ObjectDisposedException(this.owner.FullName));
                return Disposable.Empty;
            }

            var subscription = new LocalSubscription(
                Interlocked.Increment(ref this.nextSubscriptionId),
                keyOrPrefix,
                isPrefix,
                this.engine,
                observer,
                queueCapacity,
                queueMaxBytes,
                this.logger,
                this.metrics,
                s => this.subscriptions.TryRemove(s, out _));
            this.subscriptions.TryAdd(subscription, true);
            try
            {
                if (live)
                {
                    this.engine.SubscribeLive(subscription.Registration);
                }
                else
                {
                    // The embedded engine registers at once, its starting state queued before Subscribe returns and
                    // its refusal thrown here; a remote engine's refusal reaches the observer when it comes.
                    var registering = this.engine.SubscribeAsync(subscription.Registration, fromVersion, CancellationToken.None);
                    if (registering.IsCompleted)
                    {
#pragma warning disable VSTHRD002 // completed: this only rethrows its failure
                        registering.GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
                    }
                    else
                    {
                        _ = this.RegisteredAsync(registering, subscription, observer);
                    }
                }
            }
            catch (Exception ex)
            {
                // Refused (a prefix over MaxKeyLength): the error goes to the observer, as it does in a worker.
                subscription.Dispose();
                observer.OnError(ex);
                return Disposable.Empty;
            }

            if (this.disposed)
            {
                // Shut down while registering: end it like the others.
                subscription.Complete();
            }

            return subscription;
        });

    private async Task RegisteredAsync(ValueTask<long> registering, LocalSubscription subscription, IObserver<KeyChange> observer)
    {
        try
        {
            await registering.ConfigureAwait(false);
            if (subscription.IsDisposed)
            {
                // Disposed while a remote engine registered it: its removal came first and found nothing.
                this.engine.Unsubscribe(subscription.Registration);
            }
        }
        catch (Exception ex)
        {
            // Refused (a prefix over MaxKeyLength): the error goes to the observer, as it does in a worker.
            subscription.Dispose();
            try
            {
                observer.OnError(ex);
            }
            catch (Exception observerFault)
            {
                // Nobody awaits this task: an observer that throws from OnError is logged, as one that throws from OnNext.
                this.logger.LocalObserverOnErrorFailed(observerFault, subscription.Registration.KeyOrPrefix);
            }
        }
    }

    private void ThrowIfUnusable(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(this.disposed, this.owner);
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>A lock the master holds; disposing releases it, once.</summary>
    private sealed class HeldLock(IStoreEngine engine, string name, long token) : IAsyncDisposable
    {
        // No lock: Interlocked.Exchange lets the first of concurrent disposals release the lock.
        private int released;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref this.released, 1) == 0)
            {
                await engine.UnlockAsync(name, token, MasterOwner, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }
}
