using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Conflation;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Logging;

namespace Rx.SharedMemory.Worker;

/// <summary>
/// The changes a worker has read from its pipe and its observers have not yet taken, delivered in the order the master
/// sent them by at most one delivery at a time, so that a slow observer never holds up the reading of the pipe.
/// </summary>
/// <remarks>
/// Bounded as the master's <see cref="Store.ChangeOutbox"/> is: past the bounds, changes conflate per (subscription, key),
/// the survivor counting what it replaced, and a subscription's starting state never conflates with later changes.
/// </remarks>
internal sealed class ChangeInbox
{
    private const int MaxBatch = 256;

    private readonly Lock gate = new();

    // Guarded by gate.
    private readonly ConflatingQueue<(long Subscription, string Key, StreamPart Part), Item> queue;
    private readonly Action<RemoteSubscription> onObserverFault;
    private readonly ILogger logger;

    // Guarded by gate.
    private bool draining;
    private bool closed;

    // Guarded by gate: what runs on the delivery thread once what waited is delivered, after CloseAfterDelivering.
    private Action? onDrained;

    /// <param name="capacity">How many changes may wait before conflation starts.</param>
    /// <param name="maxBytes">How many bytes of values may wait before conflation starts.</param>
    /// <param name="onObserverFault">Ends a subscription whose observer threw.</param>
    /// <param name="logger">Where an observer's fault goes.</param>
    public ChangeInbox(int capacity, long maxBytes, Action<RemoteSubscription> onObserverFault, ILogger logger)
    {
        this.queue = new(
            capacity,
            maxBytes,
            item => (item.Subscription.Id, item.Change.Key, StreamParts.Of(item.Change.Kind)),
            (waiting, newer) => newer with { Change = newer.Change.WithSkipped(waiting.Change.SkippedVersions + 1 + newer.Change.SkippedVersions) },
            item => item.Bytes);
        this.onObserverFault = onObserverFault;
        this.logger = logger;
    }

    /// <summary>Gets the number of changes waiting.</summary>
    public int Count
    {
        get
        {
            lock (this.gate)
            {
                return this.queue.Count;
            }
        }
    }

    /// <summary>Queues a change for a subscription's observer; returns at once.</summary>
    public void Enqueue(RemoteSubscription subscription, KeyChange change)
    {
        long bytes = change.HasValue ? JsonMarshal.GetRawUtf8Value(change.Value).Length : 0;
        lock (this.gate)
        {
            if (this.closed)
            {
                return;
            }

            this.queue.Enqueue(new Item(subscription, change, bytes));
            if (this.draining)
            {
                return;
            }

            this.draining = true;
        }

        // Off the reader's thread: the observer may take its time. Each change brings its own trace context, if any.
        _ = Detached.RunAsync(this.Drain);
    }

    /// <summary>Drops what waits for a subscription that has ended.</summary>
    public void Remove(long subscriptionId)
    {
        lock (this.gate)
        {
            this.queue.RemoveWhere(item => item.Subscription.Id == subscriptionId);
        }
    }

    /// <summary>Drops everything waiting; later changes are ignored.</summary>
    public void Close()
    {
        lock (this.gate)
        {
            this.closed = true;
            this.queue.Clear();
        }
    }

    /// <summary>
    /// Takes no more changes, delivers those waiting, then runs <paramref name="end"/> on the delivery thread: an end
    /// (the master lost) reaches each observer after the changes it already has, and never from the caller's thread,
    /// which may be the connection's and must not wait for a busy observer.
    /// </summary>
    public void CloseAfterDelivering(Action end)
    {
        lock (this.gate)
        {
            if (this.closed)
            {
                return;
            }

            this.closed = true;
            this.onDrained = end;
            if (this.draining)
            {
                return;
            }

            this.draining = true;
        }

        _ = Detached.RunAsync(this.Drain);
    }

    private void Drain()
    {
        var batch = new List<Item>(MaxBatch);
        while (true)
        {
            batch.Clear();
            Action? end = null;
            lock (this.gate)
            {
                this.queue.TakeInto(batch, MaxBatch);
                if (batch.Count == 0)
                {
                    this.draining = false;
                    end = this.onDrained;
                    this.onDrained = null;
                }
            }

            if (batch.Count == 0)
            {
                this.RunEnd(end);
                return;
            }

            foreach (var item in batch)
            {
                // The observer runs in the trace of the write that made the change.
                using var activity = StoreActivities.StartDelivery(item.Change.TraceParent);
                try
                {
                    item.Subscription.Deliver(item.Change);
                }
                catch (Exception ex)
                {
                    // An observer's fault ends its own subscription, not the connection.
                    this.logger.ObserverFailed(ex, item.Subscription.Id);
                    this.onObserverFault(item.Subscription);
                }
            }
        }
    }

    private void RunEnd(Action? end)
    {
        try
        {
            end?.Invoke();
        }
        catch (Exception ex)
        {
            // An observer that throws from OnError: nothing awaits this thread, so it is logged.
            this.logger.ObserverEndFailed(ex);
        }
    }

    private readonly record struct Item(RemoteSubscription Subscription, KeyChange Change, long Bytes);
}
