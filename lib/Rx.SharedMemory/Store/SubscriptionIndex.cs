using System.Buffers;

namespace Rx.SharedMemory.Store;

/// <summary>
/// The subscriptions, by key and by prefix, and the ones a change to a key concerns. A change finds its key's
/// subscriptions with one lookup, and its prefixes' with one lookup per length of prefix subscribed to (the prefix of
/// the key of that length), rather than a test of every prefix subscription. The subscriptions of a key or prefix are
/// grouped by outbox, so that a change is queued once per outbox it concerns (<see cref="ChangeFanOut"/>), however
/// many subscriptions of that outbox it matches. Not thread-safe: the store's lock guards it.
/// </summary>
internal sealed class SubscriptionIndex
{
    private readonly Dictionary<string, Subscribers> byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Subscribers> byPrefix = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Subscribers>.AlternateLookup<ReadOnlySpan<char>> byPrefixSpan;

    // Each key's or prefix's group of an outbox, found when a subscription is added.
    private readonly Dictionary<(Subscribers Of, ChangeOutbox Outbox), Group> groups = [];

    // How many distinct prefixes of each length are subscribed to.
    private readonly Dictionary<int, int> prefixesOfLength = [];

    // The keys of prefixesOfLength, ascending.
    private int[] prefixLengths = [];

    public SubscriptionIndex() => this.byPrefixSpan = this.byPrefix.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>Gets the number of subscriptions.</summary>
    public int Count { get; private set; }

    public void Add(StoreSubscription subscription)
    {
        var index = subscription.IsPrefix ? this.byPrefix : this.byKey;
        if (!index.TryGetValue(subscription.KeyOrPrefix, out var of))
        {
            of = new Subscribers();
            index.Add(subscription.KeyOrPrefix, of);
            if (subscription.IsPrefix)
            {
                this.CountPrefixLength(subscription.KeyOrPrefix.Length, +1);
            }
        }

        if (!this.groups.TryGetValue((of, subscription.Outbox), out var group))
        {
            group = new Group(of, subscription.Outbox) { Slot = of.Groups.Count };
            of.Groups.Add(group);
            this.groups.Add((of, subscription.Outbox), group);
        }

        subscription.Group = group;
        subscription.Slot = group.Subscriptions.Count;
        group.Subscriptions.Add(subscription);
        of.Count++;
        this.Count++;
    }

    /// <summary>Removes a subscription in constant time: the last of its group takes its place.</summary>
    public void Remove(StoreSubscription subscription)
    {
        if (subscription.Group is not { } group)
        {
            return;
        }

        SwapRemove(group.Subscriptions, subscription.Slot, (moved, slot) => moved.Slot = slot);
        subscription.Group = null;
        var of = group.Of;
        of.Count--;
        this.Count--;
        if (group.Subscriptions.Count > 0)
        {
            return;
        }

        SwapRemove(of.Groups, group.Slot, (moved, slot) => moved.Slot = slot);
        this.groups.Remove((of, group.Outbox));
        if (of.Groups.Count == 0)
        {
            (subscription.IsPrefix ? this.byPrefix : this.byKey).Remove(subscription.KeyOrPrefix);
            if (subscription.IsPrefix)
            {
                this.CountPrefixLength(subscription.KeyOrPrefix.Length, -1);
            }
        }
    }

    /// <summary>
    /// Finds the subscriptions a change to <paramref name="key"/> concerns: key subscriptions first, then prefixes,
    /// shortest first; within each, one run per outbox.
    /// </summary>
    /// <param name="key">The key changed.</param>
    /// <param name="runs">Cleared, then given where each outbox's run lies in the array returned.</param>
    /// <returns>An array rented from <see cref="ArrayPool{T}.Shared"/> holding the subscriptions, for the caller to return; null when none.</returns>
    public StoreSubscription[]? Match(string key, List<OutboxRun> runs)
    {
        runs.Clear();
        StoreSubscription[]? matched = null;
        int count = 0;
        if (this.byKey.TryGetValue(key, out var of))
        {
            Append(ref matched, ref count, of, runs);
        }

        foreach (int length in this.prefixLengths)
        {
            if (length > key.Length)
            {
                break;
            }

            if (this.byPrefixSpan.TryGetValue(key.AsSpan(0, length), out of))
            {
                Append(ref matched, ref count, of, runs);
            }
        }

        return matched;
    }

    private static void Append(ref StoreSubscription[]? matched, ref int count, Subscribers of, List<OutboxRun> runs)
    {
        if (matched is null || matched.Length < count + of.Count)
        {
            var larger = ArrayPool<StoreSubscription>.Shared.Rent(count + of.Count);
            if (matched is not null)
            {
                matched.AsSpan(0, count).CopyTo(larger);
                ArrayPool<StoreSubscription>.Shared.Return(matched, clearArray: true);
            }

            matched = larger;
        }

        foreach (var group in of.Groups)
        {
            group.Subscriptions.CopyTo(matched, count);
            runs.Add(new OutboxRun(group.Outbox, count, group.Subscriptions.Count));
            count += group.Subscriptions.Count;
        }
    }

    /// <summary>Removes the item at <paramref name="slot"/>, moving the last item there and telling it its new slot.</summary>
    private static void SwapRemove<T>(List<T> list, int slot, Action<T, int> moved)
    {
        int last = list.Count - 1;
        if (slot != last)
        {
            list[slot] = list[last];
            moved(list[slot], slot);
        }

        list.RemoveAt(last);
    }

    private void CountPrefixLength(int length, int delta)
    {
        int prefixes = this.prefixesOfLength.GetValueOrDefault(length) + delta;
        if (prefixes == 0)
        {
            this.prefixesOfLength.Remove(length);
        }
        else
        {
            this.prefixesOfLength[length] = prefixes;
        }

        // Only when a length comes or goes; subscriptions change far less often than keys.
        if (prefixes == 0 || prefixes == delta)
        {
            this.prefixLengths = [.. this.prefixesOfLength.Keys.Order()];
        }
    }

    /// <summary>The subscriptions of one outbox to one key or prefix.</summary>
    internal sealed class Group(Subscribers of, ChangeOutbox outbox)
    {
        public Subscribers Of { get; } = of;

        public ChangeOutbox Outbox { get; } = outbox;

        public List<StoreSubscription> Subscriptions { get; } = [];

        /// <summary>Gets or sets its position in <see cref="Subscribers.Groups"/>.</summary>
        public int Slot { get; set; }
    }

    /// <summary>The subscriptions to one key or prefix, by outbox.</summary>
    internal sealed class Subscribers
    {
        public List<Group> Groups { get; } = [];

        /// <summary>Gets or sets the number of subscriptions in all its groups.</summary>
        public int Count { get; set; }
    }
}

/// <summary>Where the subscriptions of one outbox lie in an array of matched subscriptions.</summary>
internal readonly record struct OutboxRun(ChangeOutbox Outbox, int Start, int Count);
