using System.Collections.Concurrent;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Master;

/// <summary>The store as the master's own code sees it: the same <see cref="ISharedStore"/> as a worker's, without a pipe.</summary>
internal sealed class LocalStore : ISharedStore
{
    private readonly KeyValueStore store;
    private readonly LockTable locks;
    private readonly SharedMemoryOptions options;
    private readonly ILogger logger;
    private readonly ConcurrentDictionary<LocalSubscription, bool> subscriptions = new();
    /// <summary>The owner of the locks the master takes itself; workers are numbered from 1.</summary>
    private const long MasterOwner = 0;
    private long nextSubscriptionId;
    private volatile bool disposed;

    public LocalStore(KeyValueStore store, LockTable locks, SharedMemoryOptions options, ILogger logger)
    {
        this.store = store;
        this.locks = locks;
        this.options = options;
        this.logger = logger;
    }

    // Every *Async method reports failure through its task, never by throwing at the call site: a caller that issues
    // several calls before awaiting them gets every one run, as a worker's do.
    public ValueTask<T?> GetAsync<T>(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            var entry = this.Read<T>(key, cancellationToken);
            return new(entry is null ? default : entry.Value);
        }
        catch (Exception ex)
        {
            return ValueErrors.FaultedAsync<T?>(ex);
        }
    }

    public ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            return new(this.Read<T>(key, cancellationToken));
        }
        catch (Exception ex)
        {
            return ValueErrors.FaultedAsync<StoreEntry<T>?>(ex);
        }
    }

    public ValueTask<long> SetAsync<T>(string key, T value, CancellationToken cancellationToken = default)
    {
        try
        {
            this.ThrowIfUnusable(cancellationToken);
            return new(this.store.Set(key, Serialize(key, value)));
        }
        catch (Exception ex)
        {
            return ValueErrors.FaultedAsync<long>(ex);
        }
    }

    public ValueTask<long> SetAsync<T>(string key, T value, SetOptions options, CancellationToken cancellationToken = default)
    {
        try
        {
            ArgumentNullException.ThrowIfNull(options);
            options.Validate();
            this.ThrowIfUnusable(cancellationToken);

            // The master never disconnects from itself: its ephemeral keys live as long as it does.
            return new(this.store.Set(key, Serialize(key, value), options.TimeToLive));
        }
        catch (Exception ex)
        {
            return ValueErrors.FaultedAsync<long>(ex);
        }
    }

    public ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, SetOptions? options = null, CancellationToken cancellationToken = default)
    {
        try
        {
            options?.Validate();
            this.ThrowIfUnusable(cancellationToken);
            return new(this.store.CompareAndSet(key, expectedVersion, Serialize(key, value), options?.TimeToLive));
        }
        catch (Exception ex)
        {
            return ValueErrors.FaultedAsync<CompareAndSetResult>(ex);
        }
    }

    public ValueTask<StoreEntry<long>> IncrementAsync(string key, long delta = 1, CancellationToken cancellationToken = default)
    {
        try
        {
            this.ThrowIfUnusable(cancellationToken);
            var (value, version) = this.store.Increment(key, delta);
            return new(new StoreEntry<long>(value, version));
        }
        catch (Exception ex)
        {
            return ValueErrors.FaultedAsync<StoreEntry<long>>(ex);
        }
    }

    public async ValueTask<IAsyncDisposable> AcquireLockAsync(string name, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        this.ThrowIfUnusable(cancellationToken);
        long token = await this.locks.AcquireAsync(name, MasterOwner, timeout, cancellationToken).ConfigureAwait(false);
        return new HeldLock(() => this.locks.Release(name, token));
    }

    public ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            this.ThrowIfUnusable(cancellationToken);
            return new(this.store.Delete(key) != 0);
        }
        catch (Exception ex)
        {
            return ValueErrors.FaultedAsync<bool>(ex);
        }
    }

    public IObservable<KeyChange> Observe(string key, long? fromVersion = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return this.ObserveCore(key, isPrefix: false, fromVersion, live: false, this.options.SubscriberQueueCapacity, this.options.SubscriberQueueMaxBytes);
    }

    public IObservable<KeyChange> ObservePrefix(string prefix, long? fromVersion = null)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        return this.ObserveCore(prefix, isPrefix: true, fromVersion, live: false, this.options.SubscriberQueueCapacity, this.options.SubscriberQueueMaxBytes);
    }

    /// <summary>Every change committed after the moment of subscription, with no initial state, queued for the observer within the bounds given.</summary>
    public IObservable<KeyChange> ObserveAllLive(int queueCapacity, long queueMaxBytes) => this.ObserveCore(string.Empty, isPrefix: true, fromVersion: null, live: true, queueCapacity, queueMaxBytes);

    /// <summary>Completes every in-process subscription; later calls throw <see cref="ObjectDisposedException"/>.</summary>
    public void Shutdown()
    {
        this.disposed = true;
        foreach (var subscription in this.subscriptions.Keys)
        {
            subscription.Complete();
        }
    }

    private StoreEntry<T>? Read<T>(string key, CancellationToken cancellationToken)
    {
        this.ThrowIfUnusable(cancellationToken);
        if (this.store.Get(key) is not { } stored)
        {
            return null;
        }

        try
        {
            return new StoreEntry<T>(JsonSerializer.Deserialize<T>(stored.Value)!, stored.Version);
        }
        catch (Exception ex) when (ValueErrors.IsSerializerError(ex))
        {
            throw ValueErrors.Unreadable(key, typeof(T), ex);
        }
    }

    private static byte[] Serialize<T>(string key, T value)
    {
        try
        {
            return JsonSerializer.SerializeToUtf8Bytes(value);
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
                observer.OnCompleted();
                return Disposable.Empty;
            }

            var subscription = new LocalSubscription(
                Interlocked.Increment(ref this.nextSubscriptionId),
                keyOrPrefix,
                isPrefix,
                this.store,
                observer,
                queueCapacity,
                queueMaxBytes,
                this.logger,
                s => this.subscriptions.TryRemove(s, out _));
            this.subscriptions.TryAdd(subscription, true);
            try
            {
                if (live)
                {
                    this.store.SubscribeLive(subscription.Registration);
                }
                else
                {
                    this.store.Subscribe(subscription.Registration, fromVersion);
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

    private void ThrowIfUnusable(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(this.disposed, typeof(SharedMemoryMaster));
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>A lock the master holds; disposing releases it, once.</summary>
    private sealed class HeldLock(Func<bool> release) : IAsyncDisposable
    {
        private int released;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref this.released, 1) == 0)
            {
                release();
            }

            return default;
        }
    }
}
