using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Conflation;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Logging;
using Rx.SharedMemory.Protocol;

namespace Rx.SharedMemory.Store;

/// <summary>
/// The bounded queue of changes waiting for one consumer (a worker connection, or one in-process observer), drained
/// in order by at most one delivery at a time.
/// </summary>
/// <remarks>
/// The store enqueues in this outbox's hand-out turn (<see cref="ChangeFanOut"/>), so enqueueing never waits on the consumer. Past the capacity, changes conflate
/// per (subscription, key) as <see cref="ConflatingQueue{TSlot, TItem}"/> describes, the survivor carrying the count of
/// the changes it replaced: memory stays bounded, the queue stays in version order, and the consumer ends with the
/// latest value of every key. A subscription's starting state (its <see cref="KeyChangeKind.PrefixReset"/> and
/// <see cref="KeyChangeKind.Reset"/> changes) never conflates with the changes after it: merged, a reset would move to
/// the tail, behind changes to other keys that the whole state must precede, or turn into a change that is not the
/// state; kept apart, the state arrives whole and first, for at most one more waiting change per key.
/// </remarks>
internal sealed class ChangeOutbox : IDisposable
{
    // The most items queued under one hold of the lock: a long run of subscriptions lets delivery and unsubscribes in.
    private const int MaxPerHold = 1024;

    private readonly Lock gate = new();
    private readonly ConflatingQueue<(long SubscriptionId, string Key, StreamPart Part, long Epoch), OutboxItem> queue;

    // Guarded by gate: the messages sent that wait for room, in the order they were sent.
    private readonly LinkedList<WaitingMessage> waitingMessages = new();
    private readonly int messageCapacity;
    private readonly long messageMaxBytes;
    private readonly Func<IReadOnlyList<OutboxItem>, ValueTask> deliver;
    private readonly ILogger logger;
    private readonly MasterMetrics metrics;
    private bool draining;
    private bool disposed;

    // Guarded by gate: the messages in the queue, their bytes, and how many were ever queued (the current epoch).
    private int messages;
    private long messageBytes;
    private long epoch;

    /// <param name="capacity">How many changes may wait before conflation starts.</param>
    /// <param name="deliver">Delivers a batch in order; never called concurrently; must not keep the list.</param>
    /// <param name="logger">Where delivery failures go.</param>
    /// <param name="maxBytes">How many bytes of values may wait before conflation starts.</param>
    /// <param name="metrics">Where conflations are counted; null for <see cref="MasterMetrics.Unowned"/>.</param>
    public ChangeOutbox(int capacity, Func<IReadOnlyList<OutboxItem>, ValueTask> deliver, ILogger logger, long maxBytes = long.MaxValue, MasterMetrics? metrics = null)
    {
        this.metrics = metrics ?? MasterMetrics.Unowned;
        this.queue = new(
            capacity,
            maxBytes,
            item => item.Message is null ? (item.SubscriptionId, item.Change.Key, StreamParts.Of(item.Change.Kind), item.Epoch) : (0, string.Empty, StreamPart.Message, item.Epoch),
            (waiting, newer) => newer with { Skipped = waiting.Skipped + 1 + newer.Skipped },
            item => item.Size);
        this.messageCapacity = capacity;
        this.messageMaxBytes = maxBytes;
        this.deliver = deliver;
        this.logger = logger;
        this.Arrivals = new ChangeFanOut.Lane(this);
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

    /// <summary>Gets the bytes of the values waiting.</summary>
    public long Bytes
    {
        get
        {
            lock (this.gate)
            {
                return this.queue.Bytes;
            }
        }
    }

    /// <summary>Gets the number of changes dropped by conflation so far.</summary>
    public long Conflated
    {
        get
        {
            lock (this.gate)
            {
                return this.queue.Conflated;
            }
        }
    }

    /// <summary>Gets what the store has queued for this outbox and not yet handed to it (<see cref="ChangeFanOut"/>).</summary>
    internal ChangeFanOut.Lane Arrivals { get; }

    public void Enqueue(long subscriptionId, ChangeRecord change)
    {
        long replaced;
        bool startDrain;
        lock (this.gate)
        {
            if (this.disposed)
            {
                return;
            }

            long conflated = this.queue.Conflated;
            this.queue.Enqueue(new OutboxItem(subscriptionId, change, 0) { Epoch = this.epoch });
            replaced = this.queue.Conflated - conflated;
            startDrain = this.StartDrain();
        }

        this.Enqueued(replaced, startDrain);
    }

    /// <summary>Queues a change for each of a run of subscriptions, but those retired.</summary>
    public void Enqueue(ReadOnlySpan<StoreSubscription> subscriptions, ChangeRecord change)
    {
        for (int start = 0; start < subscriptions.Length; start += MaxPerHold)
        {
            long replaced;
            bool startDrain;
            lock (this.gate)
            {
                if (this.disposed)
                {
                    return;
                }

                long conflated = this.queue.Conflated;
                foreach (var subscription in subscriptions.Slice(start, Math.Min(MaxPerHold, subscriptions.Length - start)))
                {
                    // Checked under the lock that Remove takes: retired before, it is skipped; after, Remove drops it.
                    if (!subscription.IsRetired)
                    {
                        this.queue.Enqueue(new OutboxItem(subscription.Id, change, 0) { Epoch = this.epoch });
                    }
                }

                replaced = this.queue.Conflated - conflated;
                startDrain = this.StartDrain();
            }

            this.Enqueued(replaced, startDrain);
        }
    }

    /// <summary>Queues changes for a subscription, in order, unless it is retired.</summary>
    public void Enqueue(StoreSubscription subscription, IReadOnlyList<ChangeRecord> changes)
    {
        for (int start = 0; start < changes.Count; start += MaxPerHold)
        {
            long replaced;
            bool startDrain;
            lock (this.gate)
            {
                if (this.disposed || subscription.IsRetired)
                {
                    return;
                }

                long conflated = this.queue.Conflated;
                for (int i = start; i < Math.Min(start + MaxPerHold, changes.Count); i++)
                {
                    this.queue.Enqueue(new OutboxItem(subscription.Id, changes[i], 0) { Epoch = this.epoch });
                }

                replaced = this.queue.Conflated - conflated;
                startDrain = this.StartDrain();
            }

            this.Enqueued(replaced, startDrain);
        }
    }

    /// <summary>
    /// Queues a message behind every change already queued, never conflated; completes once it is queued. While the
    /// messages waiting hold the outbox's capacity or bytes (a consumer that does not keep up), it waits for room, behind
    /// the messages sent before it, so that memory stays bounded and nothing is dropped. At least one message is always
    /// let in, whatever its size.
    /// </summary>
    /// <param name="json">The message's JSON.</param>
    /// <param name="cancellationToken">Withdraws a message still waiting for room.</param>
    /// <exception cref="ObjectDisposedException">The outbox is disposed: its consumer is gone.</exception>
    public ValueTask EnqueueMessageAsync(byte[] json, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        WaitingMessage waiting;
        bool startDrain;
        lock (this.gate)
        {
            ObjectDisposedException.ThrowIf(this.disposed, this);
            if (this.waitingMessages.Count > 0 || !this.HasRoomFor(json.Length))
            {
                waiting = new WaitingMessage(json);
                waiting.Node = this.waitingMessages.AddLast(waiting);
            }
            else
            {
                this.AddMessage(json);
                waiting = null!;
            }

            startDrain = this.StartDrain();
        }

        this.Enqueued(0, startDrain);
        if (waiting is null)
        {
            return default;
        }

        if (cancellationToken.CanBeCanceled)
        {
            waiting.Registration = cancellationToken.Register(() => this.Withdraw(waiting, cancellationToken));
        }

        return new ValueTask(waiting.Queued.Task);
    }

    /// <summary>Drops every waiting change of a subscription, so that nothing more is delivered to it.</summary>
    public void Remove(long subscriptionId)
    {
        lock (this.gate)
        {
            this.queue.RemoveWhere(item => item.SubscriptionId == subscriptionId);
        }
    }

    public void Dispose()
    {
        List<WaitingMessage> refused;
        lock (this.gate)
        {
            this.disposed = true;
            this.queue.Clear();
            this.messages = 0;
            this.messageBytes = 0;
            refused = [.. this.waitingMessages];
            this.waitingMessages.Clear();
        }

        foreach (var waiting in refused)
        {
            waiting.Registration.Unregister();
            waiting.Queued.TrySetException(new ObjectDisposedException(nameof(ChangeOutbox), "The connection the message was for has ended."));
        }
    }

    /// <summary>Whether a message of <paramref name="bytes"/> fits beside those waiting; under the lock.</summary>
    private bool HasRoomFor(long bytes) =>
        this.messages == 0 || (this.messages < this.messageCapacity && this.messageBytes + bytes <= this.messageMaxBytes);

    /// <summary>Queues a message as a new epoch: the changes after it never conflate with those before; under the lock.</summary>
    private void AddMessage(byte[] json)
    {
        this.epoch++;
        this.queue.Enqueue(new OutboxItem(0, OutboxItem.MessageMarker, 0) { Epoch = this.epoch, Message = json });
        this.messages++;
        this.messageBytes += json.Length;
    }

    /// <summary>Lets in the messages waiting for room that now fit, in order; under the lock. Returns those to complete.</summary>
    private List<WaitingMessage>? LetWaitingIn()
    {
        List<WaitingMessage>? admitted = null;
        while (this.waitingMessages.First is { } first && this.HasRoomFor(first.Value.Json.Length))
        {
            this.waitingMessages.RemoveFirst();
            this.AddMessage(first.Value.Json);
            (admitted ??= []).Add(first.Value);
        }

        return admitted;
    }

    private void Withdraw(WaitingMessage waiting, CancellationToken cancellationToken)
    {
        lock (this.gate)
        {
            if (waiting.Node?.List != this.waitingMessages)
            {
                return; // let in, or refused, already
            }

            this.waitingMessages.Remove(waiting.Node);
        }

        waiting.Queued.TrySetCanceled(cancellationToken);
    }

    /// <summary>Tells whether the caller, holding the lock, is to start a delivery of what waits.</summary>
    private bool StartDrain()
    {
        if (this.draining || this.queue.Count == 0)
        {
            return false;
        }

        this.draining = true;
        return true;
    }

    /// <summary>What an enqueue leaves to do outside the lock.</summary>
    private void Enqueued(long replaced, bool startDrain)
    {
        // A metric listener's callback is foreign code.
        if (replaced > 0)
        {
            this.metrics.ChangesConflated.Add(replaced);
        }

        if (startDrain)
        {
            // Delivery runs off the caller's thread: the caller is handing a change out to every subscription in turn,
            // and other writers wait for that turn. Nor in its context: it delivers other writers' changes too.
            _ = Detached.RunAsync(this.DrainAsync);
        }
    }

    private async Task DrainAsync()
    {
        // One delivery is one changes notification on a worker's wire, and keeps to its limits.
        var batch = new List<OutboxItem>(ProtocolLimits.MaxChangesPerNotification);
        while (true)
        {
            batch.Clear();
            List<WaitingMessage>? admitted = null;
            lock (this.gate)
            {
                this.queue.TakeInto(batch, ProtocolLimits.MaxChangesPerNotification, ProtocolLimits.MaxChangesValueBytes);
                if (batch.Count == 0 || this.disposed)
                {
                    this.draining = false;
                    return;
                }

                foreach (var item in batch)
                {
                    if (item.Message is { } message)
                    {
                        this.messages--;
                        this.messageBytes -= message.Length;
                    }
                }

                admitted = this.waitingMessages.Count > 0 ? this.LetWaitingIn() : null;
            }

            // Outside the lock: a sender's continuation runs on the thread pool, never here.
            foreach (var waiting in admitted ?? [])
            {
                waiting.Registration.Unregister();
                waiting.Queued.TrySetResult();
            }

            try
            {
                await this.deliver(batch).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // The consumer is gone or broken; its owner disposes this outbox. Nothing reaches the writer.
                this.logger.ChangeDeliveryFailed(ex, batch.Count);
            }
        }
    }

    /// <summary>A message waiting for room in the outbox, and its sender's task.</summary>
    private sealed class WaitingMessage(byte[] json)
    {
        public byte[] Json { get; } = json;

        public TaskCompletionSource Queued { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Gets or sets its place among the waiting messages; guarded by the outbox's lock.</summary>
        public LinkedListNode<WaitingMessage>? Node { get; set; }

        public CancellationTokenRegistration Registration { get; set; }
    }
}
