using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Logging;

namespace Rx.SharedMemory.Messaging;

/// <summary>
/// Hands the messages a process receives to its observers: each observer has a bounded queue of its own, drained in
/// order by one delivery at a time (so its <c>OnNext</c> calls never overlap), off the thread that received them. A
/// message is never conflated or dropped: while an observer's queue is full, <see cref="PublishAsync"/> does not
/// complete, and the receiver stops reading the sender's connection until it does.
/// </summary>
/// <typeparam name="T">The message type.</typeparam>
/// <param name="capacity">How many messages may wait for one observer.</param>
/// <param name="maxBytes">How many bytes of messages may wait for one observer (at least one message always may).</param>
/// <param name="sizeOf">The bytes a message holds.</param>
/// <param name="logger">Where an observer's failure goes.</param>
internal sealed class MessageHub<T>(int capacity, long maxBytes, Func<T, long> sizeOf, ILogger logger) : IObservable<T>
{
    private readonly int capacity = capacity;
    private readonly long maxBytes = maxBytes;
    private readonly Func<T, long> sizeOf = sizeOf;
    private readonly ILogger logger = logger;
    private readonly Lock gate = new();

    // Guarded by gate; replaced, never changed, so that a publisher enumerates a copy outside the lock.
    private Receiver[] receivers = [];

    // Guarded by gate.
    private bool completed;

    /// <summary>Gets a value indicating whether anyone observes the messages.</summary>
    public bool HasObservers => Volatile.Read(ref this.receivers).Length > 0;

    public IDisposable Subscribe(IObserver<T> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        var receiver = new Receiver(this, observer);
        bool ended;
        lock (this.gate)
        {
            ended = this.completed;
            if (!ended)
            {
                this.receivers = [.. this.receivers, receiver];
            }
        }

        if (ended)
        {
            observer.OnError(new ObjectDisposedException("messages", "The messages cannot be observed: their process's connection is disposed."));
        }

        return receiver;
    }

    /// <summary>
    /// Queues a message for every observer; completes at once when each has room, otherwise when the last of those
    /// that had none has taken it (in the order it was published among the messages that waited).
    /// </summary>
    public ValueTask PublishAsync(T message)
    {
        List<Task>? waits = null;
        foreach (var receiver in Volatile.Read(ref this.receivers))
        {
            var queued = receiver.EnqueueAsync(message);
            if (!queued.IsCompleted)
            {
                (waits ??= []).Add(queued);
            }
        }

        return waits is null ? default : new ValueTask(Task.WhenAll(waits));
    }

    /// <summary>
    /// Completes every observer after the messages queued for it, or ends it with <paramref name="error"/> (a lost
    /// connection); later subscriptions fail.
    /// </summary>
    public void Complete(Exception? error = null)
    {
        Receiver[] ended;
        lock (this.gate)
        {
            this.completed = true;
            ended = this.receivers;
            this.receivers = [];
        }

        foreach (var receiver in ended)
        {
            receiver.End(error);
        }
    }

    private void Remove(Receiver receiver)
    {
        lock (this.gate)
        {
            this.receivers = [.. this.receivers.Where(r => r != receiver)];
        }
    }

    /// <summary>One observer's queue and its delivery.</summary>
    private sealed class Receiver(MessageHub<T> hub, IObserver<T> observer) : IDisposable
    {
        private readonly Lock gate = new();

        // Guarded by gate: the messages waiting, those that wait for room (with their publishers' tasks), and their bytes.
        private readonly Queue<T> queue = new();
        private readonly Queue<(T Message, TaskCompletionSource Queued)> waiting = new();
        private long bytes;
        private bool delivering;
        private bool ending;
        private bool disposed;
        private Exception? error;

        public Task EnqueueAsync(T message)
        {
            bool start;
            lock (this.gate)
            {
                if (this.disposed || this.ending)
                {
                    return Task.CompletedTask;
                }

                if (this.waiting.Count > 0 || !this.HasRoomFor(message))
                {
                    var queued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    this.waiting.Enqueue((message, queued));
                    return queued.Task;
                }

                this.Add(message);
                start = this.StartDelivery();
            }

            if (start)
            {
                _ = Task.Run(this.Deliver);
            }

            return Task.CompletedTask;
        }

        public void End(Exception? error)
        {
            bool start, here;
            lock (this.gate)
            {
                this.ending = true;
                this.error = error;
                start = this.StartDelivery();

                // A disposal with nothing queued completes the observer on the disposing thread, so that it has
                // completed when the disposal returns; a lost connection's error, and an end after a backlog, go
                // through the thread pool, as the messages do.
                here = start && error is null && this.queue.Count == 0;
            }

            if (here)
            {
                this.Deliver();
            }
            else if (start)
            {
                _ = Task.Run(this.Deliver);
            }
        }

        public void Dispose()
        {
            List<TaskCompletionSource> released;
            lock (this.gate)
            {
                if (this.disposed)
                {
                    return;
                }

                this.disposed = true;
                this.queue.Clear();
                this.bytes = 0;
                released = [.. this.waiting.Select(w => w.Queued)];
                this.waiting.Clear();
            }

            hub.Remove(this);

            // A publisher waiting for this observer goes on: the observer is gone.
            released.ForEach(queued => queued.TrySetResult());
        }

        private bool HasRoomFor(T message) =>
            this.queue.Count == 0 || (this.queue.Count < hub.capacity && this.bytes + hub.sizeOf(message) <= hub.maxBytes);

        private void Add(T message)
        {
            this.queue.Enqueue(message);
            this.bytes += hub.sizeOf(message);
        }

        /// <summary>Whether the caller, holding the lock, is to start a delivery.</summary>
        private bool StartDelivery()
        {
            if (this.delivering || this.disposed || (this.queue.Count == 0 && !this.ending))
            {
                return false;
            }

            this.delivering = true;
            return true;
        }

        private void Deliver()
        {
            while (true)
            {
                T message;
                List<TaskCompletionSource>? admitted = null;
                lock (this.gate)
                {
                    if (this.disposed)
                    {
                        this.delivering = false;
                        return;
                    }

                    if (!this.queue.TryDequeue(out message!))
                    {
                        this.delivering = false;
                        if (!this.ending)
                        {
                            return;
                        }

                        this.disposed = true;
                        break;
                    }

                    this.bytes -= hub.sizeOf(message);
                    while (this.waiting.TryPeek(out var next) && this.HasRoomFor(next.Message))
                    {
                        this.waiting.Dequeue();
                        this.Add(next.Message);
                        (admitted ??= []).Add(next.Queued);
                    }
                }

                admitted?.ForEach(queued => queued.TrySetResult());
                try
                {
                    observer.OnNext(message);
                }
                catch (Exception ex)
                {
                    // The sender never sees it: the observer's subscription ends, as a change observer's does.
                    hub.logger.MessageObserverFailed(ex);
                    this.Dispose();
                    return;
                }
            }

            try
            {
                if (this.error is { } error)
                {
                    observer.OnError(error);
                }
                else
                {
                    observer.OnCompleted();
                }
            }
            catch (Exception ex)
            {
                hub.logger.MessageObserverFailed(ex);
            }
        }
    }
}
