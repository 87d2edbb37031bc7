namespace Rx.SharedMemory.Store;

/// <summary>
/// What a new subscription must see first: the current state, or the logged changes it resumes from. Exact at one
/// version, the registration's (a large prefix's state is read in chunks and brought to it by the change log, see
/// <see cref="KeyValueStore.Subscribe"/>); queued to the subscription's outbox after the lock is
/// released, in its turn among the commits' changes to that outbox (<see cref="ChangeFanOut"/>), so it still precedes
/// every change committed after it. A prefix's state is put in version order only then, so that a large one does not hold the
/// store's lock while it is sorted.
/// </summary>
internal sealed class StartingState
{
    private static readonly Comparer<ChangeRecord> ByVersion = Comparer<ChangeRecord>.Create((a, b) => a.Version.CompareTo(b.Version));

    private readonly List<ChangeRecord> changes;
    private readonly bool sortAfterFirst;

    private StartingState(StoreSubscription subscription, List<ChangeRecord> changes, bool sortAfterFirst)
    {
        this.Subscription = subscription;
        this.changes = changes;
        this.sortAfterFirst = sortAfterFirst;
    }

    public StoreSubscription Subscription { get; }

    /// <summary>The logged changes after <paramref name="fromVersion"/> that the subscription matches, oldest first.</summary>
    public static StartingState Replay(StoreSubscription subscription, ChangeLog log, long fromVersion)
    {
        var changes = new List<ChangeRecord>();
        foreach (var change in log.After(fromVersion))
        {
            if (subscription.Matches(change.Key))
            {
                changes.Add(change);
            }
        }

        return new(subscription, changes, sortAfterFirst: false);
    }

    /// <summary>
    /// A key's state: one reset with its value, or, absent as of <paramref name="version"/>, one without, so that the
    /// subscriber learns that it is in sync (and forgets a state it resumed from).
    /// </summary>
    public static StartingState OfKey(StoreSubscription subscription, Entry? entry, long version, DateTimeOffset now) =>
        new(
            subscription,
            [entry is null
                ? new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.Reset, null, version, now)
                : new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.Reset, entry.Value, entry.Version, entry.Timestamp)],
            sortAfterFirst: false);

    /// <summary>
    /// A prefix's state: a marker telling the subscriber that what follows is the whole state under the prefix (keys it
    /// held that are not listed are gone), then a reset per key, oldest first.
    /// </summary>
    public static StartingState OfPrefix(StoreSubscription subscription, IEnumerable<Entry> entries, long version, DateTimeOffset now)
    {
        var changes = new List<ChangeRecord> { new(subscription.KeyOrPrefix, KeyChangeKind.PrefixReset, null, version, now) };
        foreach (var entry in entries)
        {
            if (subscription.Matches(entry.Key))
            {
                // A copy: the entry changes in place with the next write.
                changes.Add(new ChangeRecord(entry.Key, KeyChangeKind.Reset, entry.Value, entry.Version, entry.Timestamp));
            }
        }

        changes[0] = changes[0] with { StateCount = changes.Count - 1 };
        return new(subscription, changes, sortAfterFirst: true);
    }

    /// <summary>A prefix's state from resets already read and matched, each its key's latest as of <paramref name="version"/>.</summary>
    public static StartingState OfPrefix(StoreSubscription subscription, IReadOnlyCollection<ChangeRecord> resets, long version, DateTimeOffset now)
    {
        var changes = new List<ChangeRecord>(resets.Count + 1)
        {
            new(subscription.KeyOrPrefix, KeyChangeKind.PrefixReset, null, version, now) { StateCount = resets.Count },
        };
        changes.AddRange(resets);
        return new(subscription, changes, sortAfterFirst: true);
    }

    /// <summary>Queues the changes to the subscription's outbox; called once, without the store's lock.</summary>
    public void Deliver()
    {
        if (this.sortAfterFirst)
        {
            this.changes.Sort(1, this.changes.Count - 1, ByVersion);
        }

        this.Subscription.Outbox.Enqueue(this.Subscription, this.changes);
    }
}
