using System.Buffers;
using System.Buffers.Text;
using System.Text;
using Rx.SharedMemory.Rpc;

namespace Rx.SharedMemory.Store;

/// <summary>
/// The in-memory store: entries, the version counter, the change log, expiry, eviction, ephemeral ownership and the
/// subscriptions. Synchronous and free of I/O; every mutation goes through <see cref="Commit"/>, which assigns the
/// version and logs the change under one lock, and takes the list of the subscriptions it matches. The change is then
/// handed to those subscriptions' outboxes after the lock is released, in commit order (<see cref="FanOut"/>), so that
/// every subscriber sees versions in order while a key with many subscriptions holds up no other caller. Observers
/// are never called here: outboxes deliver on their own.
/// </summary>
internal sealed class KeyValueStore : IDisposable
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<StoreSubscription>> keySubscriptions = new(StringComparer.Ordinal);
    private readonly List<StoreSubscription> prefixSubscriptions = [];
    private readonly Dictionary<long, HashSet<string>> ephemeralKeys = [];
    private readonly PriorityQueue<(string Key, long ExpiresAt), long> expiries = new();
    private readonly ChangeLog log;
    private readonly SharedMemoryOptions options;
    private readonly TimeProvider time;
    private readonly AutoResetEvent expiryWake = new(false);

    // Guarded by gate: the commits whose changes wait to be handed to their subscriptions, in version order.
    private readonly Queue<PendingFanOut> fanOuts = new();

    // Taken without gate by whoever hands changes out, one at a time, so that they reach each outbox in version order.
    private readonly Lock fanOutTurn = new();

    // The last fan-out ticket this thread issued and has not yet seen handed out; 0 for none.
    [ThreadStatic]
    private static long pendingTicket;

    // Guarded by gate.
    private long ticketsIssued;

    // Guarded by fanOutTurn.
    private long ticketsDone;
    private Thread? expiryThread;
    private Entry? leastRecent;
    private Entry? mostRecent;
    private long bytes;
    private long version;
    private long nextExpiry = long.MaxValue;
    private int entriesWithExpiry;
    private bool disposed;

    public KeyValueStore(SharedMemoryOptions options)
    {
        this.options = options;
        this.time = options.TimeProvider;
        this.log = new ChangeLog(options.ChangeLogCapacity, options.ChangeLogMaxBytes);
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

    /// <summary>Gets the number of connections that own ephemeral keys, and the number of those keys.</summary>
    internal (int Owners, int Keys) Ephemeral
    {
        get
        {
            lock (this.gate)
            {
                return (this.ephemeralKeys.Count, this.ephemeralKeys.Values.Sum(keys => keys.Count));
            }
        }
    }

    /// <summary>Reads a key, counting as a use for eviction.</summary>
    public StoredValue? Get(string key)
    {
        using var fanOut = new FanOutScope(this);
        this.ValidateKey(key);
        lock (this.gate)
        {
            var entry = this.Find(key);
            if (entry is null)
            {
                return null;
            }

            this.Touch(entry);
            return new StoredValue(entry.Value, entry.Version);
        }
    }

    /// <summary>Stores a value.</summary>
    /// <param name="key">The key.</param>
    /// <param name="utf8Json">The value as UTF-8 JSON; the store keeps this array, so the caller must not change it.</param>
    /// <param name="timeToLive">When the key expires; null for never.</param>
    /// <param name="owner">The connection that owns the key as ephemeral, or 0.</param>
    /// <returns>The version of the change.</returns>
    public long Set(string key, byte[] utf8Json, TimeSpan? timeToLive = null, long owner = 0)
    {
        using var fanOut = new FanOutScope(this);
        this.ValidateWrite(key, utf8Json);
        lock (this.gate)
        {
            return this.Write(key, utf8Json, timeToLive, owner, this.Find(key));
        }
    }

    /// <summary>Stores a value only if the key is at the expected version (0: absent).</summary>
    public CompareAndSetResult CompareAndSet(string key, long expectedVersion, byte[] utf8Json, TimeSpan? timeToLive = null, long owner = 0)
    {
        using var fanOut = new FanOutScope(this);
        this.ValidateWrite(key, utf8Json);
        lock (this.gate)
        {
            var entry = this.Find(key);
            long current = entry?.Version ?? 0;
            return current == expectedVersion
                ? new CompareAndSetResult(true, this.Write(key, utf8Json, timeToLive, owner, entry))
                : new CompareAndSetResult(false, current);
        }
    }

    /// <summary>Adds to an integer value (an absent key counts as 0), keeping its time to live and owner.</summary>
    /// <exception cref="InvalidOperationException">The value is not an integer, or the sum overflows.</exception>
    public (long Value, long Version) Increment(string key, long delta)
    {
        using var fanOut = new FanOutScope(this);
        this.ValidateKey(key);
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
            return (next, this.Write(key, value, timeToLive, entry?.Owner ?? 0, entry));
        }
    }

    /// <summary>Deletes a key.</summary>
    /// <returns>The version of the change, or 0 when the key did not exist (and nothing was committed).</returns>
    public long Delete(string key)
    {
        using var fanOut = new FanOutScope(this);
        this.ValidateKey(key);
        lock (this.gate)
        {
            return this.Find(key) is { } entry ? this.Remove(entry, KeyChangeKind.Deleted) : 0;
        }
    }

    /// <summary>Deletes every key a connection still owns as ephemeral, publishing each deletion.</summary>
    public void ReleaseOwner(long owner)
    {
        using var fanOut = new FanOutScope(this);
        lock (this.gate)
        {
            if (this.ephemeralKeys.Remove(owner, out var keys))
            {
                foreach (var key in keys.ToArray())
                {
                    if (this.entries.TryGetValue(key, out var entry) && entry.Owner == owner)
                    {
                        this.Remove(entry, KeyChangeKind.Deleted);
                    }
                }
            }
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
        using var fanOut = new FanOutScope(this);
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
                this.EnqueueCurrentState(subscription);
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
        long issued;
        lock (this.gate)
        {
            issued = this.ticketsIssued;
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

        // Outside the store's lock: what was queued for it must not be delivered after this returns, including the
        // changes committed before it was removed and not yet handed out.
        lock (this.fanOutTurn)
        {
            this.HandOut(issued);
            subscription.Outbox.Remove(subscription.Id);
        }
    }

    /// <summary>Removes every key whose time has come.</summary>
    /// <returns>The next deadline in UTC ticks, or <see cref="long.MaxValue"/> when none is left.</returns>
    private long ExpireDue()
    {
        using var fanOut = new FanOutScope(this);
        lock (this.gate)
        {
            if (this.disposed)
            {
                return long.MaxValue;
            }

            long now = this.time.GetUtcNow().UtcTicks;
            while (this.expiries.TryPeek(out var due, out long at) && at <= now)
            {
                this.expiries.Dequeue();

                // A key rewritten since it was queued has a new deadline (or none): this one is stale.
                if (this.entries.TryGetValue(due.Key, out var entry) && entry.ExpiresAt == due.ExpiresAt)
                {
                    this.Remove(entry, KeyChangeKind.Expired);
                }
            }

            this.nextExpiry = this.expiries.TryPeek(out _, out long next) ? next : long.MaxValue;
            return this.nextExpiry;
        }
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

        this.expiryWake.Set();
        this.expiryThread?.Join();
        this.expiryWake.Dispose();
    }

    /// <summary>
    /// Expires keys on time. A thread of its own rather than a thread-pool timer: expiry must stay on time when the
    /// pool is busy or starved (measured: a pool timer fell 800 ms behind under a test host), and one thread that
    /// sleeps until the next deadline costs nothing while no key has a time to live.
    /// </summary>
    private void RunExpiry()
    {
        while (true)
        {
            long next = this.ExpireDue();
            lock (this.gate)
            {
                if (this.disposed)
                {
                    return;
                }
            }

            long ticks = next == long.MaxValue ? -1 : Math.Max(0, next - this.time.GetUtcNow().UtcTicks);

            // Rounded up to whole milliseconds, so that keys due close together expire in one pass.
            int wait = ticks < 0 ? Timeout.Infinite : (int)Math.Min(int.MaxValue, (ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond);
            this.expiryWake.WaitOne(wait);
        }
    }

    private Entry? Find(string key)
    {
        if (!this.entries.TryGetValue(key, out var entry))
        {
            return null;
        }

        // Read past its deadline before the timer came round: it expires now, so that no one sees it.
        if (entry.ExpiresAt != 0 && entry.ExpiresAt <= this.time.GetUtcNow().UtcTicks)
        {
            this.Remove(entry, KeyChangeKind.Expired);
            return null;
        }

        return entry;
    }

    private long Write(string key, byte[] value, TimeSpan? timeToLive, long owner, Entry? entry)
    {
        long size = value.Length + Encoding.UTF8.GetByteCount(key);
        this.MakeRoom(key, entry, size);
        var change = this.Commit(key, KeyChangeKind.Set, value);
        if (entry is null)
        {
            entry = new Entry(key, value);
            this.entries.Add(key, entry);
        }
        else
        {
            entry.Value = value;
            this.bytes -= entry.Size;
            this.Unlink(entry);
        }

        entry.Version = change.Version;
        entry.Timestamp = change.Timestamp;
        entry.Size = size;
        this.bytes += size;
        this.LinkMostRecent(entry);
        this.SetOwner(entry, owner);
        this.SetExpiry(entry, timeToLive is { } ttl ? ExpiryTicks(change.Timestamp.UtcTicks, ttl) : 0);
        return change.Version;
    }

    /// <summary>
    /// The deadline <paramref name="timeToLive"/> after <paramref name="nowTicks"/>, at most the last tick a
    /// <see cref="DateTimeOffset"/> can hold: a time to live of <see cref="TimeSpan.MaxValue"/> would otherwise
    /// overflow into the past and expire the key at once.
    /// </summary>
    internal static long ExpiryTicks(long nowTicks, TimeSpan timeToLive) =>
        timeToLive.Ticks >= DateTimeOffset.MaxValue.UtcTicks - nowTicks ? DateTimeOffset.MaxValue.UtcTicks : nowTicks + timeToLive.Ticks;

    /// <summary>Evicts least recently used keys, or refuses the write, so that a write of <paramref name="size"/> bytes fits.</summary>
    private void MakeRoom(string key, Entry? replaced, long size)
    {
        long entriesAfter = this.entries.Count + (replaced is null ? 1 : 0);
        long bytesAfter = this.bytes - (replaced?.Size ?? 0) + size;
        if (this.options.MaxBytes is { } maxBytes && size > maxBytes)
        {
            throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxBytes), maxBytes, size);
        }

        bool TooMany() => entriesAfter > (this.options.MaxEntries ?? int.MaxValue);
        bool TooBig() => bytesAfter > (this.options.MaxBytes ?? long.MaxValue);
        if (this.options.EvictionPolicy == EvictionPolicy.NoEviction)
        {
            if (TooMany())
            {
                throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxEntries), this.options.MaxEntries!.Value, entriesAfter);
            }

            if (TooBig())
            {
                throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxBytes), this.options.MaxBytes!.Value, bytesAfter);
            }

            return;
        }

        // The key being written is never a victim: out of the list until Write links it as the newest.
        if (replaced is not null)
        {
            this.Unlink(replaced);
        }

        while ((TooMany() || TooBig()) && this.leastRecent is { } victim)
        {
            entriesAfter--;
            bytesAfter -= victim.Size;
            this.Remove(victim, KeyChangeKind.Evicted);
        }
    }

    private long Remove(Entry entry, KeyChangeKind kind)
    {
        this.entries.Remove(entry.Key);
        this.Unlink(entry);
        this.bytes -= entry.Size;
        this.SetOwner(entry, 0);
        this.SetExpiry(entry, 0);
        if (kind is KeyChangeKind.Expired or KeyChangeKind.Evicted)
        {
            SharedMemoryMetrics.KeysRemoved.Add(1, kind == KeyChangeKind.Expired ? SharedMemoryMetrics.Expired : SharedMemoryMetrics.Evicted);
        }

        return this.Commit(entry.Key, kind, null).Version;
    }

    private void SetOwner(Entry entry, long owner)
    {
        if (entry.Owner == owner)
        {
            return;
        }

        if (entry.Owner != 0 && this.ephemeralKeys.TryGetValue(entry.Owner, out var previous))
        {
            previous.Remove(entry.Key);
        }

        if (owner != 0)
        {
            if (!this.ephemeralKeys.TryGetValue(owner, out var keys))
            {
                this.ephemeralKeys[owner] = keys = new HashSet<string>(StringComparer.Ordinal);
            }

            keys.Add(entry.Key);
        }

        entry.Owner = owner;
    }

    private void SetExpiry(Entry entry, long expiresAt)
    {
        if (entry.ExpiresAt != 0)
        {
            this.entriesWithExpiry--;
        }

        entry.ExpiresAt = expiresAt;
        if (expiresAt == 0)
        {
            return;
        }

        this.entriesWithExpiry++;
        this.expiries.Enqueue((entry.Key, expiresAt), expiresAt);

        // Rewrites leave stale deadlines in the queue; rebuild it before they outnumber the live ones.
        if (this.expiries.Count > (2 * this.entriesWithExpiry) + 1024)
        {
            this.expiries.Clear();
            foreach (var live in this.entries.Values)
            {
                if (live.ExpiresAt != 0)
                {
                    this.expiries.Enqueue((live.Key, live.ExpiresAt), live.ExpiresAt);
                }
            }
        }

        if (expiresAt < this.nextExpiry)
        {
            // An earlier deadline than the expiry thread sleeps until: wake it (and start it on first use).
            this.nextExpiry = expiresAt;
            if (this.expiryThread is null)
            {
                this.expiryThread = new Thread(this.RunExpiry) { IsBackground = true, Name = "Rx.SharedMemory expiry" };
                this.expiryThread.Start();
            }
            else
            {
                this.expiryWake.Set();
            }
        }
    }

    private void Touch(Entry entry)
    {
        if (this.mostRecent != entry)
        {
            this.Unlink(entry);
            this.LinkMostRecent(entry);
        }
    }

    private void LinkMostRecent(Entry entry)
    {
        entry.Older = this.mostRecent;
        entry.Newer = null;
        if (this.mostRecent is not null)
        {
            this.mostRecent.Newer = entry;
        }

        this.mostRecent = entry;
        this.leastRecent ??= entry;
    }

    private void Unlink(Entry entry)
    {
        if (entry.Older is not null)
        {
            entry.Older.Newer = entry.Newer;
        }
        else if (this.leastRecent == entry)
        {
            this.leastRecent = entry.Newer;
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

    private ChangeRecord Commit(string key, KeyChangeKind kind, byte[]? value)
    {
        var change = new ChangeRecord(key, kind, value, ++this.version, this.time.GetUtcNow());
        this.log.Append(change);

        // Only the list of subscriptions is taken here; handing the change to each is done after the lock is released.
        StoreSubscription[]? matched = null;
        int count = 0;
        if (this.keySubscriptions.TryGetValue(key, out var list) && list.Count > 0)
        {
            matched = ArrayPool<StoreSubscription>.Shared.Rent(list.Count + this.prefixSubscriptions.Count);
            list.CopyTo(matched);
            count = list.Count;
        }

        foreach (var subscription in this.prefixSubscriptions)
        {
            if (subscription.Matches(key))
            {
                matched ??= ArrayPool<StoreSubscription>.Shared.Rent(this.prefixSubscriptions.Count);
                matched[count++] = subscription;
            }
        }

        if (matched is not null)
        {
            this.fanOuts.Enqueue(new PendingFanOut(++this.ticketsIssued, change, matched, count));
            pendingTicket = this.ticketsIssued;
        }

        return change;
    }

    /// <summary>
    /// Hands the changes this thread committed to their subscriptions, once the store's lock is released: the caller
    /// returns only when they are queued, so that a writer cannot commit faster than its changes are handed out.
    /// </summary>
    private void FanOut()
    {
        long mine = pendingTicket;
        if (mine == 0)
        {
            return;
        }

        pendingTicket = 0;
        lock (this.fanOutTurn)
        {
            this.HandOut(mine);
        }
    }

    /// <summary>Hands out the waiting changes, oldest first, up to the ticket; the caller holds <see cref="fanOutTurn"/>.</summary>
    private void HandOut(long upTo)
    {
        while (this.ticketsDone < upTo)
        {
            PendingFanOut next;
            lock (this.gate)
            {
                next = this.fanOuts.Dequeue();
            }

            try
            {
                for (int i = 0; i < next.Count; i++)
                {
                    next.Subscriptions[i].Outbox.Enqueue(next.Subscriptions[i].Id, next.Change);
                }
            }
            finally
            {
                ArrayPool<StoreSubscription>.Shared.Return(next.Subscriptions, clearArray: true);
                this.ticketsDone = next.Ticket;
            }
        }
    }

    private void EnqueueCurrentState(StoreSubscription subscription)
    {
        if (!subscription.IsPrefix)
        {
            if (this.Find(subscription.KeyOrPrefix) is { } entry)
            {
                subscription.Outbox.Enqueue(subscription.Id, new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.Reset, entry.Value, entry.Version, entry.Timestamp));
            }
            else
            {
                // Absent as of now: the subscriber learns that it is in sync (and forgets a state it resumed from).
                subscription.Outbox.Enqueue(subscription.Id, new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.Reset, null, this.version, this.time.GetUtcNow()));
            }

            return;
        }

        // The marker tells the subscriber that what follows is the whole state under the prefix: keys it held and that
        // are not listed are gone. The resets follow oldest first.
        subscription.Outbox.Enqueue(subscription.Id, new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.PrefixReset, null, this.version, this.time.GetUtcNow()));
        var matches = new List<Entry>();
        foreach (var (key, entry) in this.entries)
        {
            if (subscription.Matches(key))
            {
                matches.Add(entry);
            }
        }

        matches.Sort((a, b) => a.Version.CompareTo(b.Version));
        foreach (var entry in matches)
        {
            subscription.Outbox.Enqueue(subscription.Id, new ChangeRecord(entry.Key, KeyChangeKind.Reset, entry.Value, entry.Version, entry.Timestamp));
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

    private void ValidateWrite(string key, byte[] utf8Json)
    {
        this.ValidateKey(key);
        if (utf8Json.Length > this.options.MaxValueBytes)
        {
            throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxValueBytes), this.options.MaxValueBytes, utf8Json.Length);
        }

        // Every write passes here, from a worker or from master.Store: a value the store holds is one every worker can read.
        InputRules.ThrowIfTooDeep(key, utf8Json);
    }

    private void ValidateKey(string key)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw new ArgumentException("A key must be a non-empty string.", nameof(key));
        }

        InputRules.ThrowIfNotUtf16(key, nameof(key));

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

            InputRules.ThrowIfNotUtf16(subscription.KeyOrPrefix, "prefix");
        }
        else
        {
            this.ValidateKey(subscription.KeyOrPrefix);
        }
    }

    /// <summary>A commit's change and the subscriptions it matched, waiting to be handed out.</summary>
    private readonly record struct PendingFanOut(long Ticket, ChangeRecord Change, StoreSubscription[] Subscriptions, int Count);

    /// <summary>Runs <see cref="FanOut"/> when the method that declares it returns, after its lock is released.</summary>
    private readonly ref struct FanOutScope(KeyValueStore store)
    {
        public void Dispose() => store.FanOut();
    }
}
