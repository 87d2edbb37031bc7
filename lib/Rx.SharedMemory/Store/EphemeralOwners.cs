namespace Rx.SharedMemory.Store;

/// <summary>
/// The keys each connection owns as ephemeral (<see cref="SetOptions.Ephemeral"/>), so that a connection's departure
/// finds its keys without a scan of the store. Not thread-safe: the store's lock guards it.
/// </summary>
internal sealed class EphemeralOwners
{
    private readonly Dictionary<long, HashSet<string>> keysByOwner = [];

    /// <summary>Gets the number of connections that own keys, and the number of those keys.</summary>
    public (int Owners, int Keys) Counts => (this.keysByOwner.Count, this.keysByOwner.Values.Sum(keys => keys.Count));

    /// <summary>Gives <paramref name="entry"/> to <paramref name="owner"/> (0: nobody), taking it from its previous owner.</summary>
    public void SetOwner(Entry entry, long owner)
    {
        if (entry.Owner == owner)
        {
            return;
        }

        if (entry.Owner != 0 && this.keysByOwner.TryGetValue(entry.Owner, out var previous))
        {
            previous.Remove(entry.Key);
        }

        if (owner != 0)
        {
            if (!this.keysByOwner.TryGetValue(owner, out var keys))
            {
                this.keysByOwner[owner] = keys = new HashSet<string>(StringComparer.Ordinal);
            }

            keys.Add(entry.Key);
        }

        entry.Owner = owner;
    }

    /// <summary>Forgets an owner, returning the keys it owned (none when it owned none).</summary>
    public string[] Release(long owner) => this.keysByOwner.Remove(owner, out var keys) ? [.. keys] : [];
}
