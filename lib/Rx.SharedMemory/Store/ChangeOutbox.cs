using Microsoft.Extensions.Logging;

namespace Rx.SharedMemory.Store;

/// <summary>
/// The bounded queue of changes waiting for one consumer (a worker connection, or one in-process observer), drained
/// in order by at most one delivery at a time.
/// </summary>
/// <remarks>
/// The store enqueues under its lock, so enqueueing never waits on the consumer. Below the capacity every change is
/// queued. At or above it, a change to a (subscription, key) that already has a change waiting replaces it and moves
/// to the tail, carrying the count of the changes it replaced: memory stays bounded by the capacity plus the number of
/// distinct keys, the queue stays in version order, and the consumer ends with the latest value of every key.
/// </remarks>
internal sealed class ChangeOutbox : IDisposable
{
    private const int MaxBatch = 256;

    private readonly Lock gate = new();
    private readonly LinkedList<OutboxItem> queue = new();
    private readonly Dictionary<(long SubscriptionId, string Key), LinkedListNode<OutboxItem>> latest = [];
    private readonly int capacity;
    private readonly Func<IReadOnlyList<OutboxItem>, ValueTask> deliver;
    private readonly ILogger logger;
    private bool draining;
    private bool disposed;

    /// <param name="capacity">How many changes may wait before conflation starts.</param>
    /// <param name="deliver">Delivers a batch in order; never called concurrently; must not keep the list.</param>
    /// <param name="logger">Where delivery failures go.</param>
    public ChangeOutbox(int capacity, Func<IReadOnlyList<OutboxItem>, ValueTask> deliver, ILogger logger)
    {
        this.capacity = capacity;
        this.deliver = deliver;
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

    /// <summary>Gets the number of changes dropped by conflation so far.</summary>
    public long Conflated { get; private set; }

    public void Enqueue(long subscriptionId, ChangeRecord change)
    {
        bool startDrain = false;
        lock (this.gate)
        {
            if (this.disposed)
            {
                return;
            }

            var slot = (subscriptionId, change.Key);
            if (this.queue.Count >= this.capacity && this.latest.TryGetValue(slot, out var waiting))
            {
                this.queue.Remove(waiting);
                waiting.Value = new OutboxItem(subscriptionId, change, waiting.Value.Skipped + 1);
                this.queue.AddLast(waiting);
                this.Conflated++;
            }
            else
            {
                this.latest[slot] = this.queue.AddLast(new OutboxItem(subscriptionId, change, 0));
            }

            if (!this.draining)
            {
                this.draining = startDrain = true;
            }
        }

        if (startDrain)
        {
            // Delivery runs off the caller's thread: the store calls this under its lock.
            _ = Task.Run(this.DrainAsync);
        }
    }

    /// <summary>Drops every waiting change of a subscription, so that nothing more is delivered to it.</summary>
    public void Remove(long subscriptionId)
    {
        lock (this.gate)
        {
            for (var node = this.queue.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.SubscriptionId == subscriptionId)
                {
                    this.queue.Remove(node);
                    this.latest.Remove((subscriptionId, node.Value.Change.Key));
                }

                node = next;
            }
        }
    }

    public void Dispose()
    {
        lock (this.gate)
        {
            this.disposed = true;
            this.queue.Clear();
            this.latest.Clear();
        }
    }

    private async Task DrainAsync()
    {
        var batch = new List<OutboxItem>(MaxBatch);
        while (true)
        {
            batch.Clear();
            lock (this.gate)
            {
                while (batch.Count < MaxBatch && this.queue.First is { } node)
                {
                    this.queue.RemoveFirst();
                    var slot = (node.Value.SubscriptionId, node.Value.Change.Key);
                    if (this.latest.TryGetValue(slot, out var indexed) && indexed == node)
                    {
                        this.latest.Remove(slot);
                    }

                    batch.Add(node.Value);
                }

                if (batch.Count == 0 || this.disposed)
                {
                    this.draining = false;
                    return;
                }
            }

            try
            {
                await this.deliver(batch).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // The consumer is gone or broken; its owner disposes this outbox. Nothing reaches the writer.
                this.logger.LogDebug(ex, "Delivery of {Count} changes failed.", batch.Count);
            }
        }
    }
}
