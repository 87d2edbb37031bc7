namespace Rx.SharedMemory.Store;

/// <summary>
/// The entries from least to most recently used, linked through the entries themselves (<see cref="Entry.Older"/> and
/// <see cref="Entry.Newer"/>), so that a use, an insertion and a removal cost no search and no allocation; eviction
/// takes <see cref="LeastRecent"/> first. Not thread-safe: the store's lock guards it.
/// </summary>
internal sealed class LruList
{
    private Entry? mostRecent;

    /// <summary>Gets the entry used least recently: the next to evict; null when the list is empty.</summary>
    public Entry? LeastRecent { get; private set; }

    /// <summary>Moves an entry of the list to the most recent end.</summary>
    public void Touch(Entry entry)
    {
        if (this.mostRecent != entry)
        {
            this.Remove(entry);
            this.AddMostRecent(entry);
        }
    }

    /// <summary>Adds an entry that is not in the list at the most recent end.</summary>
    public void AddMostRecent(Entry entry)
    {
        entry.Older = this.mostRecent;
        entry.Newer = null;
        if (this.mostRecent is not null)
        {
            this.mostRecent.Newer = entry;
        }

        this.mostRecent = entry;
        this.LeastRecent ??= entry;
    }

    /// <summary>Takes an entry out of the list; does nothing if it is not in it.</summary>
    public void Remove(Entry entry)
    {
        if (entry.Older is not null)
        {
            entry.Older.Newer = entry.Newer;
        }
        else if (this.LeastRecent == entry)
        {
            this.LeastRecent = entry.Newer;
        }

        if (entry.Newer is not null)
        {
            entry.Newer.Older = entry.Older;
        }
        else if (this.mostRecent == entry)
        {
            this.mostRecent = entry.Older;
        }

        entry.Older = entry.Newer = null;
    }
}
