namespace Rx.SharedMemory.Store;

/// <summary>
/// The in-memory store: entries, the version counter, the change log and the subscriptions. Synchronous and free of
/// I/O; every mutation goes through <see cref="Commit"/>, which assigns the version, logs the change and hands it to
/// the matching subscriptions' outboxes, all under one lock, so that every subscriber sees versions in order.
/// Observers are never called here: outboxes deliver on their own.
/// </summary>
internal sealed class KeyValueStore
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<StoreSubscription>> keySubscriptions = new(StringComparer.Ordinal);
    private readonly List<StoreSubscription> prefixSubscriptions = [];
    private readonly ChangeLog log;
    private readonly SharedMemoryOptions options;
    private long version;

    public KeyValueStore(SharedMemoryOptions options)
    {
        this.options = options;
        this.log = new ChangeLog(options.ChangeLogCapacity);
    }

    /// <summary>Gets the version of the last committed change.</summary>
    public long Version
    {
        get
        {
            lock (this.gate)
            {
                return this.version;
            }
        }
    }

    /// <summary>Gets the number of keys.</summary>
    public int Count
    {
        get
        {
            lock (this.gate)
            {
                return this.entries.Count;
            }
        }
    }

    public StoredValue? Get(string key)
    {
        this.ValidateKey(key);
        lock (this.gate)
        {
            return this.entries.TryGetValue(key, out var entry) ? new StoredValue(entry.Value, entry.Version) : null;
        }
    }

    /// <summary>Stores a value.</summary>
    /// <param name="key">The key.</param>
    /// <param name="utf8Json">The value as compact UTF-8 JSON; the store keeps this array, so the caller must not change it.</param>
    /// <returns>The version of the change.</returns>
    public long Set(string key, byte[] utf8Json)
    {
        this.ValidateKey(key);
        if (utf8Json.Length > this.options.MaxValueBytes)
        {
            throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxValueBytes), this.options.MaxValueBytes, utf8Json.Length);
        }

        lock (this.gate)
        {
            var change = this.Commit(key, KeyChangeKind.Set, utf8Json);
            if (this.entries.TryGetValue(key, out var entry))
            {
                entry.Value = utf8Json;
                entry.Version = change.Version;
                entry.Timestamp = change.Timestamp;
            }
            else
            {
                this.entries.Add(key, new Entry(utf8Json, change.Version, change.Timestamp));
            }

            return change.Version;
        }
    }

    /// <summary>Deletes a key.</summary>
    /// <returns>The version of the change, or 0 when the key did not exist (and nothing was committed).</returns>
    public long Delete(string key)
    {
        this.ValidateKey(key);
        lock (this.gate)
        {
            return this.entries.Remove(key) ? this.Commit(key, KeyChangeKind.Deleted, null).Version : 0;
        }
    }

    /// <summary>
    /// Registers a subscription and, atomically with it, queues what it must see first: the current state
    /// (<paramref name="fromVersion"/> null), the logged changes after <paramref name="fromVersion"/>, or a reset
    /// when the log no longer covers that version.
    /// </summary>
    /// <returns>The store version at registration; later changes are delivered live.</returns>
    public long Subscribe(StoreSubscription subscription, long? fromVersion)
    {
        this.ValidateSubscription(subscription);
        lock (this.gate)
        {
            if (fromVersion is { } from && this.log.CoversAfter(from))
            {
                foreach (var change in this.log.After(from))
                {
                    if (subscription.Matches(change.Key))
                    {
                        subscription.Outbox.Enqueue(subscription.Id, change);
                    }
                }
            }
            else
            {
                this.EnqueueCurrentState(subscription, reportAbsentKey: fromVersion is not null);
            }

            this.Register(subscription);
            return this.version;
        }
    }

    /// <summary>Registers a subscription that receives only changes committed from now on.</summary>
    /// <returns>The store version at registration.</returns>
    public long SubscribeLive(StoreSubscription subscription)
    {
        this.ValidateSubscription(subscription);
        lock (this.gate)
        {
            this.Register(subscription);
            return this.version;
        }
    }

    public void Unsubscribe(StoreSubscription subscription)
    {
        lock (this.gate)
        {
            if (subscription.IsPrefix)
            {
                this.prefixSubscriptions.Remove(subscription);
            }
            else if (this.keySubscriptions.TryGetValue(subscription.KeyOrPrefix, out var list))
            {
                list.Remove(subscription);
                if (list.Count == 0)
                {
                    this.keySubscriptions.Remove(subscription.KeyOrPrefix);
                }
            }
        }

        // Outside the store's lock: what was queued for it must not be delivered after this returns.
        subscription.Outbox.Remove(subscription.Id);
    }

    /// <summary>Gets the number of registered subscriptions.</summary>
    public int SubscriptionCount
    {
        get
        {
            lock (this.gate)
            {
                return this.prefixSubscriptions.Count + this.keySubscriptions.Values.Sum(list => list.Count);
            }
        }
    }

    private ChangeRecord Commit(string key, KeyChangeKind kind, byte[]? value)
    {
        var change = new ChangeRecord(key, kind, value, ++this.version, this.options.TimeProvider.GetUtcNow());
        this.log.Append(change);
        if (this.keySubscriptions.TryGetValue(key, out var list))
        {
            foreach (var subscription in list)
            {
                subscription.Outbox.Enqueue(subscription.Id, change);
            }
        }

        foreach (var subscription in this.prefixSubscriptions)
        {
            if (subscription.Matches(key))
            {
                subscription.Outbox.Enqueue(subscription.Id, change);
            }
        }

        return change;
    }

    private void EnqueueCurrentState(StoreSubscription subscription, bool reportAbsentKey)
    {
        if (!subscription.IsPrefix)
        {
            if (this.entries.TryGetValue(subscription.KeyOrPrefix, out var entry))
            {
                subscription.Outbox.Enqueue(subscription.Id, new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.Reset, entry.Value, entry.Version, entry.Timestamp));
            }
            else if (reportAbsentKey)
            {
                // The subscriber knew some state that may be gone: tell it the key is absent as of now.
                subscription.Outbox.Enqueue(subscription.Id, new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.Reset, null, this.version, this.options.TimeProvider.GetUtcNow()));
            }

            return;
        }

        // The marker tells the subscriber that what follows is the whole state under the prefix: keys it held and that
        // are not listed are gone. The resets follow oldest first.
        subscription.Outbox.Enqueue(subscription.Id, new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.PrefixReset, null, this.version, this.options.TimeProvider.GetUtcNow()));
        var matches = new List<KeyValuePair<string, Entry>>();
        foreach (var pair in this.entries)
        {
            if (subscription.Matches(pair.Key))
            {
                matches.Add(pair);
            }
        }

        matches.Sort((a, b) => a.Value.Version.CompareTo(b.Value.Version));
        foreach (var (key, entry) in matches)
        {
            subscription.Outbox.Enqueue(subscription.Id, new ChangeRecord(key, KeyChangeKind.Reset, entry.Value, entry.Version, entry.Timestamp));
        }
    }

    private void Register(StoreSubscription subscription)
    {
        if (subscription.IsPrefix)
        {
            this.prefixSubscriptions.Add(subscription);
        }
        else if (this.keySubscriptions.TryGetValue(subscription.KeyOrPrefix, out var list))
        {
            list.Add(subscription);
        }
        else
        {
            this.keySubscriptions.Add(subscription.KeyOrPrefix, [subscription]);
        }
    }

    private void ValidateKey(string key)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw new ArgumentException("A key must be a non-empty string.", nameof(key));
        }

        if (key.Length > this.options.MaxKeyLength)
        {
            throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxKeyLength), this.options.MaxKeyLength, key.Length);
        }
    }

    private void ValidateSubscription(StoreSubscription subscription)
    {
        if (subscription.IsPrefix)
        {
            if (subscription.KeyOrPrefix.Length > this.options.MaxKeyLength)
            {
                throw new SharedMemoryLimitExceededException(subscription.KeyOrPrefix, nameof(SharedMemoryOptions.MaxKeyLength), this.options.MaxKeyLength, subscription.KeyOrPrefix.Length);
            }
        }
        else
        {
            this.ValidateKey(subscription.KeyOrPrefix);
        }
    }
}
