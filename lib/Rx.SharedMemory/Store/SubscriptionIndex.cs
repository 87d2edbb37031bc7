using System.Buffers;

namespace Rx.SharedMemory.Store;

/// <summary>
/// The subscriptions, by key and by prefix, and the ones a change to a key concerns. A change finds its key's
/// subscriptions with one lookup, and its prefixes' with one lookup per length of prefix subscribed to (the prefix of
/// the key of that length), rather than a test of every prefix subscription. Not thread-safe: the store's lock guards it.
/// </summary>
internal sealed class SubscriptionIndex
{
    private readonly Dictionary<string, List<StoreSubscription>> byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<StoreSubscription>> byPrefix = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<StoreSubscription>>.AlternateLookup<ReadOnlySpan<char>> byPrefixSpan;

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
        if (index.TryGetValue(subscription.KeyOrPrefix, out var list))
        {
            list.Add(subscription);
        }
        else
        {
            index.Add(subscription.KeyOrPrefix, [subscription]);
            if (subscription.IsPrefix)
            {
                this.CountPrefixLength(subscription.KeyOrPrefix.Length, +1);
            }
        }

        this.Count++;
    }

    public void Remove(StoreSubscription subscription)
    {
        var index = subscription.IsPrefix ? this.byPrefix : this.byKey;
        if (!index.TryGetValue(subscription.KeyOrPrefix, out var list) || !list.Remove(subscription))
        {
            return;
        }

        this.Count--;
        if (list.Count == 0)
        {
            index.Remove(subscription.KeyOrPrefix);
            if (subscription.IsPrefix)
            {
                this.CountPrefixLength(subscription.KeyOrPrefix.Length, -1);
            }
        }
    }

    /// <summary>Finds the subscriptions a change to <paramref name="key"/> concerns: key subscriptions first, then prefixes, shortest first.</summary>
    /// <param name="key">The key changed.</param>
    /// <param name="matched">An array rented from <see cref="ArrayPool{T}.Shared"/> holding them, for the caller to return; null when none.</param>
    /// <returns>How many of <paramref name="matched"/> are set.</returns>
    public int Match(string key, out StoreSubscription[]? matched)
    {
        matched = null;
        int count = 0;
        if (this.byKey.TryGetValue(key, out var list))
        {
            Append(ref matched, ref count, list);
        }

        foreach (int length in this.prefixLengths)
        {
            if (length > key.Length)
            {
                break;
            }

            if (this.byPrefixSpan.TryGetValue(key.AsSpan(0, length), out list))
            {
                Append(ref matched, ref count, list);
            }
        }

        return count;
    }

    private static void Append(ref StoreSubscription[]? matched, ref int count, List<StoreSubscription> list)
    {
        if (matched is null || matched.Length < count + list.Count)
        {
            var larger = ArrayPool<StoreSubscription>.Shared.Rent(count + list.Count);
            if (matched is not null)
            {
                matched.AsSpan(0, count).CopyTo(larger);
                ArrayPool<StoreSubscription>.Shared.Return(matched, clearArray: true);
            }

            matched = larger;
        }

        list.CopyTo(matched, count);
        count += list.Count;
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
}
