using System.Buffers;

namespace Rx.SharedMemory.Store;

/// <summary>
/// Hands committed changes, and new subscriptions' starting states, to the subscriptions' outboxes after the store's
/// lock is released, in commit order. Under the lock a commit only queues its change with the subscriptions it
/// matched and takes a ticket; the thread that committed then hands out every queued item up to its ticket, one
/// thread at a time (<see cref="turn"/>), so that every subscriber sees versions in order while a key with many
/// subscriptions holds up no caller of the store but the writers whose changes wait behind it.
/// </summary>
/// <param name="storeLock">The store's lock, which guards the queue and the tickets issued.</param>
internal sealed class ChangeFanOut(Lock storeLock)
{
    // Guarded by storeLock: what waits to be handed out, in ticket order.
    private readonly Queue<Pending> waiting = new();

    // Taken without storeLock by whoever hands out, one at a time, so that items reach each outbox in ticket order.
    private readonly Lock turn = new();

    // The last ticket this thread took and has not yet seen handed out; 0 for none.
    [ThreadStatic]
    private static long pendingTicket;

    // Guarded by storeLock.
    private long issued;

    // Guarded by turn.
    private long done;

    /// <summary>Gets the last ticket issued. The caller holds the store's lock.</summary>
    public long Issued => this.issued;

    /// <summary>Queues a change for the subscriptions it matched. The caller holds the store's lock.</summary>
    /// <param name="change">The change.</param>
    /// <param name="matched">The subscriptions, in an array rented from <see cref="ArrayPool{T}.Shared"/> that this takes over.</param>
    /// <param name="count">How many of <paramref name="matched"/> are set.</param>
    public void Issue(ChangeRecord change, StoreSubscription[] matched, int count) =>
        this.Issue(new Pending(0, change, matched, count, null));

    /// <summary>Queues a new subscription's starting state. The caller holds the store's lock.</summary>
    public void Issue(StartingState state) => this.Issue(new Pending(0, null, null, 0, state));

    /// <summary>
    /// Hands out what this thread queued, and what was queued before it; called once the store's lock is released.
    /// The caller returns only when its items are in their outboxes, so that a writer cannot commit faster than its
    /// changes are handed out.
    /// </summary>
    public void HandOutMine()
    {
        long mine = pendingTicket;
        if (mine == 0)
        {
            return;
        }

        pendingTicket = 0;
        lock (this.turn)
        {
            this.HandOut(mine);
        }
    }

    /// <summary>
    /// Hands out everything up to <paramref name="upTo"/> (<see cref="Issued"/> when the subscription was removed from
    /// the index), then drops what its outbox holds for it: nothing reaches it after this returns, including the
    /// changes committed before it was removed and not yet handed out. Called without the store's lock.
    /// </summary>
    public void Retire(long upTo, StoreSubscription subscription)
    {
        lock (this.turn)
        {
            this.HandOut(upTo);
            subscription.Outbox.Remove(subscription.Id);
        }
    }

    private void Issue(Pending pending)
    {
        this.waiting.Enqueue(pending with { Ticket = ++this.issued });
        pendingTicket = this.issued;
    }

    /// <summary>Hands out the waiting items, oldest first, up to the ticket; the caller holds <see cref="turn"/>.</summary>
    private void HandOut(long upTo)
    {
        while (this.done < upTo)
        {
            Pending next;
            lock (storeLock)
            {
                next = this.waiting.Dequeue();
            }

            try
            {
                if (next.State is { } state)
                {
                    state.Deliver();
                }
                else
                {
                    for (int i = 0; i < next.Count; i++)
                    {
                        next.Subscriptions![i].Outbox.Enqueue(next.Subscriptions[i].Id, next.Change!);
                    }
                }
            }
            finally
            {
                if (next.Subscriptions is not null)
                {
                    ArrayPool<StoreSubscription>.Shared.Return(next.Subscriptions, clearArray: true);
                }

                this.done = next.Ticket;
            }
        }
    }

    /// <summary>A commit's change and the subscriptions it matched, or a starting state, waiting to be handed out.</summary>
    private readonly record struct Pending(long Ticket, ChangeRecord? Change, StoreSubscription[]? Subscriptions, int Count, StartingState? State);
}
