namespace Rx.SharedMemory.Conflation;

/// <summary>
/// A FIFO queue that stays bounded by conflation instead of dropping or blocking. Below <c>capacity</c> items and
/// <c>maxBytes</c> bytes every item is queued. At or above either, an item whose slot (a subscription and key) already
/// has an item waiting replaces that item and moves to the tail, merged with it (so that the newcomer can count what
/// it replaced). Items arrive in version order, so moving the replacement to the tail keeps the queue in version
/// order. The queue then holds at most <c>capacity</c> items and <c>maxBytes</c> bytes plus one item per distinct
/// slot. Not thread-safe: the owner locks.
/// </summary>
/// <typeparam name="TSlot">What identifies items that may replace each other.</typeparam>
/// <typeparam name="TItem">The queued item.</typeparam>
internal sealed class ConflatingQueue<TSlot, TItem>(int capacity, long maxBytes, Func<TItem, TSlot> slotOf, Func<TItem, TItem, TItem> merge, Func<TItem, long> sizeOf)
    where TSlot : notnull
{
    private readonly LinkedList<TItem> queue = new();
    private readonly Dictionary<TSlot, LinkedListNode<TItem>> latest = [];

    public int Count => this.queue.Count;

    /// <summary>Gets the size of the waiting items.</summary>
    public long Bytes { get; private set; }

    /// <summary>Gets the number of items replaced by conflation so far.</summary>
    public long Conflated { get; private set; }

    public void Enqueue(TItem item)
    {
        var slot = slotOf(item);
        this.Bytes += sizeOf(item);
        if ((this.queue.Count >= capacity || this.Bytes > maxBytes) && this.latest.TryGetValue(slot, out var waiting))
        {
            this.queue.Remove(waiting);
            this.Bytes -= sizeOf(waiting.Value);
            waiting.Value = merge(waiting.Value, item);
            this.queue.AddLast(waiting);
            this.Conflated++;
        }
        else
        {
            this.latest[slot] = this.queue.AddLast(item);
        }
    }

    /// <summary>
    /// Moves up to <paramref name="max"/> items, oldest first, into <paramref name="into"/>, stopping once they hold
    /// <paramref name="maxBytes"/> or more (at least one item is taken, whatever its size).
    /// </summary>
    public void TakeInto(List<TItem> into, int max, long maxBytes = long.MaxValue)
    {
        long taken = 0;
        while (into.Count < max && taken < maxBytes && this.queue.First is { } node)
        {
            taken += sizeOf(node.Value);
            this.queue.RemoveFirst();
            this.Bytes -= sizeOf(node.Value);
            var slot = slotOf(node.Value);
            if (this.latest.TryGetValue(slot, out var indexed) && indexed == node)
            {
                this.latest.Remove(slot);
            }

            into.Add(node.Value);
        }
    }

    /// <summary>Removes every waiting item that matches.</summary>
    public void RemoveWhere(Func<TItem, bool> match)
    {
        for (var node = this.queue.First; node is not null;)
        {
            var next = node.Next;
            if (match(node.Value))
            {
                this.queue.Remove(node);
                this.Bytes -= sizeOf(node.Value);
                var slot = slotOf(node.Value);
                if (this.latest.TryGetValue(slot, out var indexed) && indexed == node)
                {
                    this.latest.Remove(slot);
                }
            }

            node = next;
        }
    }

    public void Clear()
    {
        this.queue.Clear();
        this.latest.Clear();
        this.Bytes = 0;
    }
}
