using System.Buffers.Text;
using System.Text;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Engine;

namespace Rx.SharedMemory.Store;

/// <summary>
/// The in-memory store: the entries and the version counter, with its parts under one lock: the least-recently-used
/// list (<see cref="LruList"/>), the expiry deadlines (<see cref="ExpiryQueue"/>, run by <see cref="ExpiryScheduler"/>),
/// the ephemeral owners (<see cref="EphemeralOwners"/>), the change log (<see cref="ChangeLog"/>) and the subscriptions
/// (<see cref="SubscriptionIndex"/>). Synchronous and free of I/O.
/// </summary>
/// <remarks>
/// Every change goes through <see cref="Commit"/>, which assigns the version, logs the change and queues it for the
/// subscriptions it matches, under the lock. What a call leaves to do runs once it has released the lock
/// (<see cref="AfterLock"/>): its changes are handed to the subscriptions' outboxes, each outbox's in commit order
/// (<see cref="ChangeFanOut"/>), and its metrics are recorded (<see cref="DeferredMetrics"/>). So nothing foreign runs
/// under the lock: observers are never called here (outboxes deliver on their own), nor metric listeners.
/// </remarks>
internal sealed class KeyValueStore : IDisposable
{
    private readonly Lock gate = new();
    private readonly TimeProvider time;
    private readonly StoreLimits limits;

    // Guarded by gate, as are the parts below: the parts are not thread-safe, the store's lock makes them so.
    private readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private readonly LruList lru = new();
    private readonly ExpiryQueue expiries;
    private readonly EphemeralOwners owners = new();
    private readonly ChangeLog log;
    private readonly SubscriptionIndex subscriptions = new();

    // Guarded by gate: where each outbox's subscriptions lie among those a commit matched.
    private readonly List<OutboxRun> runs = [];

    // Thread-safe; calls ExpireDue from its own thread.
    private readonly ExpiryScheduler scheduler;

    // Guarded by gate.
    private long bytes;

    // Guarded by gate.
    private long version;

    // Guarded by gate.
    private bool disposed;

    // Where the store's measurements go, after its lock is released.
    private readonly MasterMetrics metrics;

    public KeyValueStore(SharedMemoryOptions options, MasterMetrics? metrics = null)
    {
        this.metrics = metrics ?? MasterMetrics.Unowned;
        this.time = options.TimeProvider;
        this.limits = new StoreLimits(options);
        this.expiries = new ExpiryQueue(this.entries);
        this.log = new ChangeLog(options.ChangeLogCapacity, options.ChangeLogMaxBytes);
        this.scheduler = new ExpiryScheduler(this.time, this.ExpireDue);
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

    /// <summary>Gets the bytes counted against <see cref="SharedMemoryOptions.MaxBytes"/>.</summary>
    public long Bytes
    {
        get
        {
            lock (this.gate)
            {
                return this.bytes;
            }
        }
    }

    /// <summary>Gets the number of keys, their bytes and the number of changes the change log holds, at one moment.</summary>
    public StoreSize Size
    {
        get
        {
            lock (this.gate)
            {
                return new StoreSize(this.entries.Count, this.bytes, this.log.Count);
            }
        }
    }

    /// <summary>Gets the number of registered subscriptions.</summary>
    public int SubscriptionCount
    {
        get
        {
            lock (this.gate)
            {
                return this.subscriptions.Count;
            }
        }
    }

    /// <summary>Gets the number of connections that own ephemeral keys, and the number of those keys.</summary>
    internal (int Owners, int Keys) Ephemeral
    {
        get
        {
            lock (this.gate)
            {
                return this.owners.Counts;
            }
        }
    }

    /// <summary>
    /// The store size past which a prefix's starting state is read in chunks of this many keys, the lock released
    /// between them (<see cref="TrySubscribeToLargePrefix"/>): a chunk holds the lock for about a tenth of a millisecond.
    /// </summary>
    internal const int SnapshotChunkKeys = 4096;

    /// <summary>Gets or sets what runs between the chunks of a large prefix's starting state, without the lock: for tests.</summary>
    internal Action? BetweenSnapshotChunks { get; set; }

    /// <summary>Gets whether the calling thread holds the store's lock: for tests that prove what runs outside it.</summary>
    internal bool IsLockHeldByCurrentThread => this.gate.IsHeldByCurrentThread;

    /// <summary>Reads a key, counting as a use for eviction.</summary>
    public StoredValue? Get(string key)
    {
        using var after = new AfterLock(this.metrics);
        this.limits.ValidateKey(key);
        lock (this.gate)
        {
            var entry = this.Find(key);
            if (entry is null)
            {
                return null;
            }

            this.lru.Touch(entry);
            return new StoredValue(entry.Value, entry.Version);
        }
    }

    /// <summary>Stores a value.</summary>
    /// <param name="key">The key.</param>
    /// <param name="utf8Json">The value as UTF-8 JSON; the store keeps this array, so the caller must not change it.</param>
    /// <param name="timeToLive">When the key expires; null for never.</param>
    /// <param name="owner">The connection that owns the key as ephemeral, or 0.</param>
    /// <param name="traceParent">The W3C <c>traceparent</c> the change carries; null for none.</param>
    /// <returns>The version of the change.</returns>
    public long Set(string key, byte[] utf8Json, TimeSpan? timeToLive = null, long owner = 0, string? traceParent = null)
    {
        using var after = new AfterLock(this.metrics);
        this.limits.ValidateWrite(key, utf8Json);
        lock (this.gate)
        {
            return this.Write(key, utf8Json, timeToLive, owner, this.Find(key), traceParent);
        }
    }

    /// <summary>Stores a value only if the key is at the expected version (0: absent); the change carries <paramref name="traceParent"/>.</summary>
    public CompareAndSetResult CompareAndSet(string key, long expectedVersion, byte[] utf8Json, TimeSpan? timeToLive = null, long owner = 0, string? traceParent = null)
    {
        using var after = new AfterLock(this.metrics);
        this.limits.ValidateWrite(key, utf8Json);
        lock (this.gate)
        {
            var entry = this.Find(key);
            long current = entry?.Version ?? 0;
            return current == expectedVersion
                ? new CompareAndSetResult(true, this.Write(key, utf8Json, timeToLive, owner, entry, traceParent))
                : new CompareAndSetResult(false, current);
        }
    }

    /// <summary>Adds to an integer value (an absent key counts as 0), keeping its time to live and owner; the change carries <paramref name="traceParent"/>.</summary>
    /// <exception cref="InvalidOperationException">The value is not an integer, or the sum overflows.</exception>
    public (long Value, long Version) Increment(string key, long delta, string? traceParent = null)
    {
        using var after = new AfterLock(this.metrics);
        this.limits.ValidateKey(key);
        lock (this.gate)
        {
            var entry = this.Find(key);
            long current = 0;
            if (entry is not null && !(Utf8Parser.TryParse(entry.Value, out current, out int consumed) && consumed == entry.Value.Length))
            {
                throw new InvalidOperationException($"{SharedMemoryLimitExceededException.DescribeKey(key)} holds {Encoding.UTF8.GetString(entry.Value.AsSpan(0, Math.Min(entry.Value.Length, 64)))}, not an integer: it cannot be incremented.");
            }

            long next;
            try
            {
                next = checked(current + delta);
            }
            catch (OverflowException ex)
            {
                throw new InvalidOperationException($"{SharedMemoryLimitExceededException.DescribeKey(key)}: {current} + {delta} overflows a 64-bit integer.", ex);
            }

            var value = Encoding.UTF8.GetBytes(next.ToString(System.Globalization.CultureInfo.InvariantCulture));
            TimeSpan? timeToLive = entry is { ExpiresAt: > 0 } ? new TimeSpan(Math.Max(1, entry.ExpiresAt - this.time.GetUtcNow().UtcTicks)) : null;
            return (next, this.Write(key, value, timeToLive, entry?.Owner ?? 0, entry, traceParent));
        }
    }

    /// <summary>Deletes a key; the change carries <paramref name="traceParent"/>.</summary>
    /// <returns>The version of the change, or 0 when the key did not exist (and nothing was committed).</returns>
    public long Delete(string key, string? traceParent = null)
    {
        using var after = new AfterLock(this.metrics);
        this.limits.ValidateKey(key);
        lock (this.gate)
        {
            return this.Find(key) is { } entry ? this.Remove(entry, KeyChangeKind.Deleted, traceParent) : 0;
        }
    }

    /// <summary>Deletes every key a connection still owns as ephemeral, publishing each deletion (in no trace: no caller asked for it).</summary>
    public void ReleaseOwner(long owner)
    {
        using var after = new AfterLock(this.metrics);
        lock (this.gate)
        {
            foreach (var key in this.owners.Release(owner))
            {
                if (this.entries.TryGetValue(key, out var entry) && entry.Owner == owner)
                {
                    this.Remove(entry, KeyChangeKind.Deleted);
                }
            }
        }
    }

    /// <summary>
    /// Registers a subscription and, atomically with it, takes what it must see first: the current state
    /// (<paramref name="fromVersion"/> null), the logged changes after <paramref name="fromVersion"/>, or the current
    /// state when the log no longer covers that version. That is queued to its outbox before this returns, ahead of
    /// every change committed after the registration.
    /// </summary>
    /// <returns>The store version at registration; later changes are delivered live.</returns>
    public long Subscribe(StoreSubscription subscription, long? fromVersion)
    {
        using var after = new AfterLock(this.metrics);
        this.limits.ValidateSubscription(subscription);
        if (subscription.IsPrefix && this.TrySubscribeToLargePrefix(subscription, fromVersion) is { } registered)
        {
            return registered;
        }

        lock (this.gate)
        {
            ChangeFanOut.Issue(
                fromVersion is { } from && this.log.CoversAfter(from) ? StartingState.Replay(subscription, this.log, from)
                : subscription.IsPrefix ? StartingState.OfPrefix(subscription, this.entries.Values, this.version, this.time.GetUtcNow())
                : StartingState.OfKey(subscription, this.Find(subscription.KeyOrPrefix), this.version, this.time.GetUtcNow()));
            this.subscriptions.Add(subscription);
            return this.version;
        }
    }

    /// <summary>
    /// Takes a prefix's starting state from a large store without holding the lock for the whole of it: the keys are
    /// copied under the lock (references only), matched outside it, and read a chunk at a time, the lock released
    /// between chunks so that writers go on. The state read that way spans versions; the change log then brings it to
    /// one: under the final hold, each key changed since the copy takes its last logged change, and the subscription
    /// is registered at that version, as <see cref="Subscribe"/> does.
    /// </summary>
    /// <returns>The store version at registration, or null when the caller must take the state under one hold: a
    /// resume the log covers, a store small enough, or a log that no longer reaches back to the copy.</returns>
    private long? TrySubscribeToLargePrefix(StoreSubscription subscription, long? fromVersion)
    {
        string[] keys;
        long copiedAt;
        lock (this.gate)
        {
            if ((fromVersion is { } from && this.log.CoversAfter(from)) || this.entries.Count <= SnapshotChunkKeys)
            {
                return null;
            }

            copiedAt = this.version;
            keys = new string[this.entries.Count];
            this.entries.Keys.CopyTo(keys, 0);
        }

        var state = new Dictionary<string, ChangeRecord>(StringComparer.Ordinal);
        var matching = Array.FindAll(keys, subscription.Matches);
        for (var start = 0; start < matching.Length; start += SnapshotChunkKeys)
        {
            this.BetweenSnapshotChunks?.Invoke();
            lock (this.gate)
            {
                foreach (var key in matching.AsSpan(start, Math.Min(SnapshotChunkKeys, matching.Length - start)))
                {
                    if (this.entries.TryGetValue(key, out var entry))
                    {
                        // A copy: the entry changes in place with the next write.
                        state[key] = new ChangeRecord(key, KeyChangeKind.Reset, entry.Value, entry.Version, entry.Timestamp);
                    }
                }
            }
        }

        this.BetweenSnapshotChunks?.Invoke();
        lock (this.gate)
        {
            if (!this.log.CoversAfter(copiedAt))
            {
                return null;
            }

            foreach (var change in this.log.After(copiedAt))
            {
                if (!subscription.Matches(change.Key))
                {
                    continue;
                }

                if (change.Kind == KeyChangeKind.Set)
                {
                    state[change.Key] = new ChangeRecord(change.Key, KeyChangeKind.Reset, change.Value, change.Version, change.Timestamp);
                }
                else
                {
                    state.Remove(change.Key);
                }
            }

            ChangeFanOut.Issue(StartingState.OfPrefix(subscription, state.Values, this.version, this.time.GetUtcNow()));
            this.subscriptions.Add(subscription);
            return this.version;
        }
    }

    /// <summary>Registers a subscription that receives only changes committed from now on.</summary>
    /// <returns>The store version at registration.</returns>
    public long SubscribeLive(StoreSubscription subscription)
    {
        this.limits.ValidateSubscription(subscription);
        lock (this.gate)
        {
            this.subscriptions.Add(subscription);
            return this.version;
        }
    }

    /// <summary>Removes a subscription; nothing is delivered to it once this returns.</summary>
    public void Unsubscribe(StoreSubscription subscription)
    {
        lock (this.gate)
        {
            this.subscriptions.Remove(subscription);
        }

        ChangeFanOut.Retire(subscription);
    }

    public void Dispose()
    {
        lock (this.gate)
        {
            if (this.disposed)
            {
                return;
            }

            this.disposed = true;
        }

        this.scheduler.Dispose();
    }

    /// <summary>
    /// The deadline <paramref name="timeToLive"/> after <paramref name="nowTicks"/>, at most the last tick a
    /// <see cref="DateTimeOffset"/> can hold: a time to live of <see cref="TimeSpan.MaxValue"/> would otherwise
    /// overflow into the past and expire the key at once.
    /// </summary>
    internal static long ExpiryTicks(long nowTicks, TimeSpan timeToLive) =>
        timeToLive.Ticks >= DateTimeOffset.MaxValue.UtcTicks - nowTicks ? DateTimeOffset.MaxValue.UtcTicks : nowTicks + timeToLive.Ticks;

    /// <summary>The expiry pass, on the scheduler's thread: removes every key whose time has come.</summary>
    private void ExpireDue()
    {
        using var after = new AfterLock(this.metrics);
        lock (this.gate)
        {
            if (this.disposed)
            {
                return;
            }

            long now = this.time.GetUtcNow().UtcTicks;
            while (this.expiries.TryTakeDue(now, out var entry))
            {
                this.Remove(entry, KeyChangeKind.Expired);
            }

            this.scheduler.Rearm(this.expiries.NextDeadline);
        }
    }

    private Entry? Find(string key)
    {
        if (!this.entries.TryGetValue(key, out var entry))
        {
            return null;
        }

        // Read past its deadline before the scheduler came round: it expires now, so that no one sees it.
        if (entry.ExpiresAt != 0 && entry.ExpiresAt <= this.time.GetUtcNow().UtcTicks)
        {
            this.Remove(entry, KeyChangeKind.Expired);
            return null;
        }

        return entry;
    }

    private long Write(string key, byte[] value, TimeSpan? timeToLive, long owner, Entry? entry, string? traceParent)
    {
        long size = value.Length + Encoding.UTF8.GetByteCount(key);
        this.MakeRoom(key, entry, size);
        var change = this.Commit(key, KeyChangeKind.Set, value, traceParent);
        if (entry is null)
        {
            entry = new Entry(key, value);
            this.entries.Add(key, entry);
        }
        else
        {
            entry.Value = value;
            this.bytes -= entry.Size;
            this.lru.Remove(entry);
        }

        entry.Version = change.Version;
        entry.Timestamp = change.Timestamp;
        entry.Size = size;
        this.bytes += size;
        this.lru.AddMostRecent(entry);
        this.owners.SetOwner(entry, owner);
        long expiresAt = timeToLive is { } ttl ? ExpiryTicks(change.Timestamp.UtcTicks, ttl) : 0;
        this.expiries.Set(entry, expiresAt);
        if (expiresAt != 0)
        {
            this.scheduler.Schedule(expiresAt);
        }

        return change.Version;
    }

    /// <summary>Evicts least recently used keys, or refuses the write, so that a write of <paramref name="size"/> bytes fits.</summary>
    private void MakeRoom(string key, Entry? replaced, long size)
    {
        long entriesAfter = this.entries.Count + (replaced is null ? 1 : 0);
        long bytesAfter = this.bytes - (replaced?.Size ?? 0) + size;
        if (!this.limits.MustEvict(key, size, entriesAfter, bytesAfter))
        {
            return;
        }

        // The key being written is never a victim: out of the list until Write links it as the newest.
        if (replaced is not null)
        {
            this.lru.Remove(replaced);
        }

        while (this.limits.Exceeded(entriesAfter, bytesAfter) && this.lru.LeastRecent is { } victim)
        {
            entriesAfter--;
            bytesAfter -= victim.Size;
            this.Remove(victim, KeyChangeKind.Evicted);
        }
    }

    /// <summary>Removes a key; only a deletion a caller asked for carries a <paramref name="traceParent"/>, never an expiry, eviction or release.</summary>
    private long Remove(Entry entry, KeyChangeKind kind, string? traceParent = null)
    {
        this.entries.Remove(entry.Key);
        this.lru.Remove(entry);
        this.bytes -= entry.Size;
        this.owners.SetOwner(entry, 0);
        this.expiries.Set(entry, 0);
        DeferredMetrics.CountRemoved(kind);
        return this.Commit(entry.Key, kind, null, traceParent).Version;
    }

    /// <summary>
    /// The one commit path: the next version, the log, and the subscriptions the change is queued for. The change
    /// carries the <paramref name="traceParent"/> its caller passed, never the activity current on this thread.
    /// </summary>
    private ChangeRecord Commit(string key, KeyChangeKind kind, byte[]? value, string? traceParent)
    {
        var change = new ChangeRecord(key, kind, value, ++this.version, this.time.GetUtcNow()) { TraceParent = traceParent };
        this.log.Append(change);
        if (this.subscriptions.Match(key, this.runs) is { } matched)
        {
            ChangeFanOut.Issue(change, matched, this.runs);
        }

        return change;
    }

    /// <summary>
    /// What a store call leaves to do once it has released the lock: declared before the lock is taken, so that its
    /// <see cref="Dispose"/> runs after the lock is released, whether the call returns or throws.
    /// </summary>
    private readonly ref struct AfterLock(MasterMetrics metrics)
    {
        public void Dispose()
        {
            try
            {
                ChangeFanOut.HandOutMine();
            }
            finally
            {
                DeferredMetrics.Record(metrics);
            }
        }
    }
}
