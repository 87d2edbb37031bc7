using System.Buffers;
using System.Runtime.ExceptionServices;

namespace Rx.SharedMemory.Store;

/// <summary>
/// Hands committed changes, and new subscriptions' starting states, to the subscriptions' outboxes after the store's
/// lock is released, in commit order for each outbox. Under the lock a commit only queues its change, with the
/// subscriptions it matched, on each outbox it concerns (<see cref="Lane"/>): the work the lock covers grows with the
/// outboxes concerned, not with the subscriptions. The thread that committed then hands out, outbox by outbox, what
/// waits there up to its own; one thread at a time per outbox, so that each outbox receives its items in commit order.
/// Nothing needs an order between outboxes, so none is kept: a writer waits only for what was queued before its own
/// items on the outboxes they go to, and a key with many subscriptions holds up no one else.
/// </summary>
internal static class ChangeFanOut
{
    // The outboxes this thread queued items on and has not yet handed out, each with the number of its last item there;
    // of whichever store the thread called, since a lane numbers its own items.
    [ThreadStatic]
    private static List<(Lane Lane, long Last)>? mine;

    /// <summary>Queues a change on each outbox it concerns. The caller holds the store's lock.</summary>
    /// <param name="change">The change.</param>
    /// <param name="matched">The subscriptions, in an array rented from <see cref="ArrayPool{T}.Shared"/> that this takes over.</param>
    /// <param name="runs">Where each outbox's subscriptions lie in <paramref name="matched"/>.</param>
    public static void Issue(ChangeRecord change, StoreSubscription[] matched, List<OutboxRun> runs)
    {
        var shared = new SharedSubscriptions(matched, runs.Count);
        foreach (var run in runs)
        {
            run.Outbox.Arrivals.Add(new Arrival(change, shared, run.Start, run.Count, null));
        }
    }

    /// <summary>Queues a new subscription's starting state on its outbox. The caller holds the store's lock.</summary>
    public static void Issue(StartingState state) => state.Subscription.Outbox.Arrivals.Add(new Arrival(null, null, 0, 0, state));

    /// <summary>
    /// Hands out what this thread queued, and what was queued before it on the same outboxes; called once the store's
    /// lock is released. The caller returns only when its items are in their outboxes, so that a writer cannot commit
    /// faster than its changes are handed out.
    /// </summary>
    public static void HandOutMine()
    {
        if (mine is not { Count: > 0 } lanes)
        {
            return;
        }

        // Every outbox's turn, even past a failure: an item left queued would wait for the outbox's next writer.
        Exception? failure = null;
        foreach (var (lane, last) in lanes)
        {
            try
            {
                lane.HandOut(last);
            }
            catch (Exception ex)
            {
                failure ??= ex;
            }
        }

        lanes.Clear();
        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>
    /// Ends a subscription that the index no longer holds: what is queued for it on its outbox's lane is skipped when
    /// handed out, and its outbox drops what it holds for it, so that nothing reaches it after this returns. It waits
    /// for no hand-out, only for its outbox's lock, which a hand-out holds for a slice of a run at a time.
    /// </summary>
    public static void Retire(StoreSubscription subscription)
    {
        subscription.Retire();
        subscription.Outbox.Remove(subscription.Id);
    }

    /// <summary>A change and the subscriptions of one outbox it matched, or a starting state, waiting to be handed out.</summary>
    internal readonly record struct Arrival(ChangeRecord? Change, SharedSubscriptions? Subscriptions, int Start, int Count, StartingState? State)
    {
        /// <summary>Gets the arrival's number on its lane.</summary>
        public long Number { get; init; }

        public void HandTo(ChangeOutbox outbox)
        {
            if (this.State is { } state)
            {
                state.Deliver();
                return;
            }

            try
            {
                outbox.Enqueue(this.Subscriptions!.Items.AsSpan(this.Start, this.Count), this.Change!);
            }
            finally
            {
                this.Subscriptions!.Release();
            }
        }
    }

    /// <summary>
    /// The matched subscriptions of one change, shared by the arrivals of every outbox it concerns; the pool gets the
    /// array back when the last of them is handed out.
    /// </summary>
    internal sealed class SharedSubscriptions(StoreSubscription[] items, int users)
    {
        private int users = users;

        public StoreSubscription[] Items { get; } = items;

        public void Release()
        {
            if (Interlocked.Decrement(ref this.users) == 0)
            {
                ArrayPool<StoreSubscription>.Shared.Return(this.Items, clearArray: true);
            }
        }
    }

    /// <summary>
    /// What waits to be handed to one outbox, in the order the store queued it (under its lock, so in commit order),
    /// and the turn of handing it out.
    /// </summary>
    internal sealed class Lane(ChangeOutbox outbox)
    {
        // Guards waiting, added and mark, briefly: taken under the store's lock to add, and by the hand-out to take.
        private readonly Lock gate = new();
        private readonly Queue<Arrival> waiting = new();

        // Held while handing out, one thread at a time, so that items reach the outbox in the order they arrived.
        private readonly Lock turn = new();

        private long added;

        // Where this lane is in the list of the thread that last added to it, so that a call that commits many changes
        // to the same outboxes lists each of them once.
        private int mark = -1;

        /// <summary>Gets the number of the last item queued: a hand-out up to it takes every item queued so far.</summary>
        public long Added
        {
            get
            {
                lock (this.gate)
                {
                    return this.added;
                }
            }
        }

        /// <summary>Queues an item, for this thread to hand out.</summary>
        public void Add(Arrival arrival)
        {
            var lanes = mine ??= [];
            lock (this.gate)
            {
                this.waiting.Enqueue(arrival with { Number = ++this.added });
                if (this.mark >= 0 && this.mark < lanes.Count && lanes[this.mark].Lane == this)
                {
                    lanes[this.mark] = (this, this.added);
                }
                else
                {
                    this.mark = lanes.Count;
                    lanes.Add((this, this.added));
                }
            }
        }

        /// <summary>Hands out what waits, oldest first, up to and including the item numbered <paramref name="last"/>.</summary>
        public void HandOut(long last)
        {
            lock (this.turn)
            {
                while (true)
                {
                    Arrival next;
                    lock (this.gate)
                    {
                        if (!this.waiting.TryPeek(out next) || next.Number > last)
                        {
                            return;
                        }

                        this.waiting.Dequeue();
                    }

                    next.HandTo(outbox);
                }
            }
        }
    }
}
