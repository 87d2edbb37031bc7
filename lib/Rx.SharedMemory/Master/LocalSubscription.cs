using System.Reactive;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Logging;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Master;

/// <summary>An in-process observer of the store, fed by an outbox of its own so that it never runs under the store's lock.</summary>
internal sealed class LocalSubscription : IDisposable
{
    private readonly IStoreEngine engine;
    private readonly IObserver<KeyChange> observer;
    private readonly ILogger logger;
    private readonly Action<LocalSubscription> onDispose;
    private volatile bool disposed;

    public LocalSubscription(long id, string keyOrPrefix, bool isPrefix, IStoreEngine engine, IObserver<KeyChange> observer, int queueCapacity, long queueMaxBytes, ILogger logger, MasterMetrics metrics, Action<LocalSubscription> onDispose)
    {
        this.engine = engine;
        this.logger = logger;
        this.onDispose = onDispose;

        // Serialized: completion on shutdown must not overlap a delivery in flight.
        this.observer = Observer.Synchronize(observer);
        var outbox = new ChangeOutbox(queueCapacity, this.DeliverAsync, logger, queueMaxBytes, metrics);
        this.Registration = new StoreSubscription(id, keyOrPrefix, isPrefix, outbox);
    }

    public StoreSubscription Registration { get; }

    /// <summary>Gets whether the subscription has ended.</summary>
    public bool IsDisposed => this.disposed;

    /// <summary>Ends the subscription with <c>OnCompleted</c> (the store is shutting down).</summary>
    public void Complete()
    {
        if (!this.disposed)
        {
            this.Dispose();
            this.observer.OnCompleted();
        }
    }

    public void Dispose()
    {
        if (this.disposed)
        {
            return;
        }

        this.disposed = true;
        this.engine.Unsubscribe(this.Registration);
        this.Registration.Outbox.Dispose();
        this.onDispose(this);
    }

    private ValueTask DeliverAsync(IReadOnlyList<OutboxItem> batch)
    {
        foreach (var item in batch)
        {
            if (this.disposed)
            {
                break;
            }

            try
            {
                this.observer.OnNext(item.Change.ToKeyChange(item.Skipped));
            }
            catch (Exception ex)
            {
                // An observer's fault ends its own subscription and never reaches the writer of the change.
                this.logger.LocalObserverFailed(ex, this.Registration.KeyOrPrefix);
                this.Dispose();
            }
        }

        return default;
    }
}
