namespace Rx.SharedMemory.Store;

/// <summary>
/// The deadlines of the keys that have a time to live, soonest first. A priority queue cannot take an item out of its
/// middle cheaply, so a key rewritten or removed leaves its old deadline behind: a stale deadline is skipped when it
/// comes due, and the stale ones are dropped together before they outnumber the live ones. Not thread-safe: the
/// store's lock guards it.
/// </summary>
/// <param name="entries">The store's entries, read to tell a live deadline from a stale one.</param>
internal sealed class ExpiryQueue(IReadOnlyDictionary<string, Entry> entries)
{
    private readonly PriorityQueue<(string Key, long ExpiresAt), long> queue = new();
    private int live;

    /// <summary>Gets the soonest deadline queued, in UTC ticks, or <see cref="long.MaxValue"/> when none is.</summary>
    public long NextDeadline => this.queue.TryPeek(out _, out long at) ? at : long.MaxValue;

    /// <summary>Sets when <paramref name="entry"/> expires, in UTC ticks (0: never), replacing its previous deadline.</summary>
    public void Set(Entry entry, long expiresAt)
    {
        if (entry.ExpiresAt != 0)
        {
            this.live--;
        }

        entry.ExpiresAt = expiresAt;
        if (expiresAt == 0)
        {
            return;
        }

        this.live++;
        this.queue.Enqueue((entry.Key, expiresAt), expiresAt);
        if (this.queue.Count > (2 * this.live) + 1024)
        {
            var kept = this.queue.UnorderedItems.Where(item => this.IsLive(item.Element, out _)).ToArray();
            this.queue.Clear();
            this.queue.EnqueueRange(kept);
        }
    }

    /// <summary>Takes the next entry whose deadline is at or before <paramref name="now"/> (UTC ticks), skipping stale deadlines.</summary>
    public bool TryTakeDue(long now, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Entry? entry)
    {
        while (this.queue.TryPeek(out var due, out long at) && at <= now)
        {
            this.queue.Dequeue();
            if (this.IsLive(due, out entry))
            {
                return true;
            }
        }

        entry = null;
        return false;
    }

    private bool IsLive((string Key, long ExpiresAt) deadline, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Entry? entry) =>
        entries.TryGetValue(deadline.Key, out entry) && entry.ExpiresAt == deadline.ExpiresAt;
}
