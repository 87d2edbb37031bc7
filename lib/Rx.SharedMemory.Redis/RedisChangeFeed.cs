using Microsoft.Extensions.Logging;
using Microsoft.VisualStudio.Threading;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Redis.Logging;
using Rx.SharedMemory.Store;
using StackExchange.Redis;

namespace Rx.SharedMemory.Redis;

/// <summary>
/// One master's reader of the store's change log, and its subscriptions: every change is read once per master, in
/// version order, and handed to the subscriptions it matches through their outboxes, as the embedded engine hands
/// its commits. Each commit publishes a wake-up that carries its changes (up to 8, in up to 64 KiB): one that follows
/// the last version handed out is handed out from the message, without a read of the log; any other wakes the reader.
/// The log, read from the last version handed out, is the truth, so a message missed while reconnecting loses nothing.
/// </summary>
/// <remarks>
/// <para>A new subscription is registered first, and its starting state is read after, at a version the reader may not
/// have reached yet: the changes handed to it meanwhile after that version follow the state, and later changes up to it
/// are skipped, so the stream has no gap and no duplicate whatever the two orders. If the reader falls so far behind
/// that the log was trimmed past it, every subscription gets its state again (<see cref="KeyChangeKind.Reset"/>):
/// never a silent gap.</para>
/// <para>While a subscription's state is read, the changes handed out to any subscription of its outbox (a worker's
/// connection) wait behind the place of that state, in the order the reader handed them out, and reach the outbox
/// with it: the outbox gets its items in commit order, as from the embedded engine. Otherwise a change to another of
/// the connection's subscriptions, committed later, would reach the worker before the opening subscription's state and
/// its changes: a worker that saw a change would not yet have seen everything committed before it.</para>
/// </remarks>
internal sealed class RedisChangeFeed(RedisEngine engine, long position, ILogger logger)
{
    private const int ReadCount = 1024;

    // The most log entries one call of a resume reads: about a millisecond of Redis's time on the benchmark's machine.
    internal const int ReplayPage = 1024;

    // The most keys one call of a prefix's starting state reads: about 9 ms of Redis's time on the benchmark's machine.
    internal const int SnapshotPage = 1024;
    private static readonly TimeSpan IdleLook = TimeSpan.FromMilliseconds(100);

    private readonly Lock gate = new();
    private readonly AsyncAutoResetEvent wake = new();

    // Guarded by gate.
    private readonly Dictionary<StoreSubscription, Registration> registrations = [];
    private readonly Dictionary<string, List<Registration>> byKey = new(StringComparer.Ordinal);
    private readonly List<Registration> byPrefix = [];

    // For each outbox with a subscription whose state is being read: what waits behind that state, in hand-out order.
    private readonly Dictionary<ChangeOutbox, Queue<Held>> held = [];
    // The writes and messages waiting for the reader to reach a version, each numbered in the order it came.
    private readonly PriorityQueue<(TaskCompletionSource Waiter, long Number), long> reachedWaiters = new();
    private long waitersCame;
    private long position = position;

    // The change last handed out, at the position: a change of the store at that version that is not this one means
    // the store went back and was written again past it (a failover that lost writes, or the store emptied), so that
    // the changes between went to no subscription. Null when the position came from the store's version alone.
    private CommitStamp? atPosition;
    private bool stopped;

    private Task reading = Task.CompletedTask;

    /// <summary>Gets or sets a test hook, told when a message's mark waits behind what an outbox holds back (<see cref="QueuedAsync"/>).</summary>
    internal Action? MarkHeld { get; set; }

    /// <summary>Gets how many writes and messages wait for the reader to reach their version (for tests).</summary>
    internal int Waiting
    {
        get
        {
            lock (this.gate)
            {
                return this.reachedWaiters.Count;
            }
        }
    }

    /// <summary>Gets or sets a test hook, awaited before each read of the log: a test holds the reader back with it.</summary>
    internal Func<Task>? BeforeRead { get; set; }

    /// <summary>
    /// Gets or sets whether the changes a wake-up carries are handed out from it (the default). A test turns it off so
    /// that only the reader and a write's own answer hand changes out.
    /// </summary>
    internal bool TakesPublishedChanges { get; set; } = true;

    /// <summary>Gets or sets a test hook, awaited between two pages of a prefix's starting state.</summary>
    internal Func<Task>? BetweenPrefixPages { get; set; }

    /// <summary>Gets or sets a test hook, awaited once a subscription's starting state has been read and before it is queued.</summary>
    internal Func<Task>? BeforeStateQueued { get; set; }

    /// <summary>Gets the number of subscriptions.</summary>
    public int Count
    {
        get
        {
            lock (this.gate)
            {
                return this.registrations.Count;
            }
        }
    }

    public async Task StartAsync()
    {
        // One message at a time, in the order Redis sent them: each usually follows the one before.
        var messages = await engine.Subscriber.SubscribeAsync(engine.Channel("changes")).ConfigureAwait(false);
        messages.OnMessage(message => this.Published(message.Message));
        this.reading = Detached.RunAsync(this.ReadAsync);
    }

    /// <summary>
    /// Reads the changes a wake-up carries (<c>=</c>, then for each <c> version count</c> and its fields, each
    /// <c> length:bytes</c>; see the library's <c>news</c>); null for one that carries none (a version alone: the wake-up
    /// of more or larger changes than it carries, or of an older build) or that does not read as one.
    /// </summary>
    internal static List<(ChangeRecord Change, bool HasDeadline)>? ReadNews(RedisValue message) => ReadChanges(message, (byte)'=');

    /// <summary>The stamp a wake-up that carries no change brings (<c>#</c>, then its last change as a change is carried, with no value), or null.</summary>
    internal static ChangeRecord? ReadStamp(RedisValue message) =>
        ReadChanges(message, (byte)'#') is [var (change, _)] && change.Value is null ? change : null;

    /// <summary>Reads a wake-up of the form <paramref name="form"/> marks (<c>=</c> or <c>#</c>); null for another, or one that does not read.</summary>
    private static List<(ChangeRecord Change, bool HasDeadline)>? ReadChanges(RedisValue message, byte form)
    {
        var bytes = (byte[]?)message;
        if (bytes is null || bytes.Length < 2 || bytes[0] != form)
        {
            return null;
        }

        var changes = new List<(ChangeRecord, bool)>();
        int at = 1;
        while (at < bytes.Length)
        {
            // A field takes at least three bytes (' 0:'): a count past what is left does not read.
            if (!Number(bytes, ref at, out long version) || !Number(bytes, ref at, out long count) || count % 2 != 0 || count > (bytes.Length - at) / 3)
            {
                return null;
            }

            var fields = new (RedisValue Name, RedisValue Value)[count / 2];
            int named = 0;
            for (int i = 0; i < fields.Length; i++)
            {
                if (!Field(bytes, ref at, out var name) || !Field(bytes, ref at, out var value))
                {
                    return null;
                }

                fields[i] = (name, value);
                named += (string?)name switch
                {
                    "k" => 1,
                    "t" when value.TryParse(out int kind) && kind is >= 0 and <= 3 => 2,
                    "s" when value.TryParse(out long stamp) && stamp is >= 0 and <= 253_402_300_799_999 => 4,
                    _ => 0,
                };
            }

            // A key, a kind of change and a time, each of the log's form.
            if (named != 7)
            {
                return null;
            }

            changes.Add((ToChange(version, fields, out bool hasDeadline), hasDeadline));
        }

        return changes;

        // ' ' and a decimal number.
        static bool Number(byte[] bytes, ref int at, out long number)
        {
            number = 0;
            if (at >= bytes.Length || bytes[at++] != (byte)' ')
            {
                return false;
            }

            int digits = 0;
            for (; at < bytes.Length && bytes[at] is >= (byte)'0' and <= (byte)'9' && digits < 18; at++, digits++)
            {
                number = (number * 10) + (bytes[at] - '0');
            }

            return digits > 0;
        }

        // ' length:bytes'.
        static bool Field(byte[] bytes, ref int at, out RedisValue field)
        {
            field = RedisValue.Null;
            if (!Number(bytes, ref at, out long length) || at >= bytes.Length || bytes[at++] != (byte)':' || length > bytes.Length - at)
            {
                return false;
            }

            field = bytes.AsSpan(at, (int)length).ToArray();
            at += (int)length;
            return true;
        }
    }

    /// <summary>
    /// Hands out the changes a wake-up carries when they follow what was handed out; wakes the reader otherwise (a
    /// wake-up that carries none, or came after one that was missed), which reads them from the log.
    /// </summary>
    internal void Published(RedisValue message)
    {
        if (message.TryParse(out long version))
        {
            // A wake-up of a build that does not stamp it: a change this master's own write already handed out needs no
            // read of the log.
            if (version > Volatile.Read(ref this.position))
            {
                this.wake.Set();
            }

            return;
        }

        if (ReadStamp(message) is { } stamp)
        {
            // The version alone, with its change's stamp: compared at the position, read from the log past it.
            if (this.CompareAtPosition(stamp))
            {
                this.wake.Set();
            }

            return;
        }

        try
        {
            if (this.TakesPublishedChanges && ReadNews(message) is { Count: > 0 } changes && this.HandOut(changes, onlyFollowing: true))
            {
                return;
            }
        }
        catch (Exception ex)
        {
            // The reader reads them instead.
            logger.HandOutFailed(ex, Volatile.Read(ref this.position));
        }

        this.wake.Set();
    }

    public async Task StopAsync()
    {
        lock (this.gate)
        {
            this.stopped = true;
            while (this.reachedWaiters.TryDequeue(out var waiter, out _))
            {
                waiter.Waiter.TrySetException(new ObjectDisposedException(nameof(SharedMemoryMaster), "The master is shutting down: the changes up to the version awaited were not all read back."));
            }

            // The messages waiting behind a state go on, to find their connections closed.
            foreach (var mark in this.held.Values.SelectMany(waiting => waiting).Select(h => h.Mark))
            {
                mark?.TrySetResult();
            }
        }

        this.wake.Set();
        await this.reading.ConfigureAwait(false);
    }

    /// <summary>Gets the version up to which this reader has handed out the changes; a write sends it, so that its script returns what follows.</summary>
    public long Position
    {
        get
        {
            lock (this.gate)
            {
                return this.position;
            }
        }
    }

    /// <summary>
    /// Hands out the log's entries a write's script returned (those after <see cref="Position"/> as the write was sent,
    /// up to its own), in order, as the reader would: a write then needs no read of the log of its own.
    /// </summary>
    public void HandOutFromWrite(RedisResult entries)
    {
        var array = (RedisResult[])entries!;
        if (array.Length > 0)
        {
            this.HandOut(array.Select(static entry => (ToChange(entry, out bool hasDeadline), hasDeadline)));
        }
    }

    /// <summary>Completes once the reader has handed out every change up to <paramref name="version"/>.</summary>
    public Task ReachedAsync(long version, CancellationToken cancellationToken)
    {
        lock (this.gate)
        {
            if (this.position >= version)
            {
                return Task.CompletedTask;
            }

            ObjectDisposedException.ThrowIf(this.stopped, typeof(SharedMemoryMaster));
            var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            this.reachedWaiters.Enqueue((waiter, ++this.waitersCame), version);
            this.wake.Set();
            return cancellationToken.CanBeCanceled ? WaitAsync(waiter, cancellationToken) : waiter.Task;
        }

        // Canceled, the waiter itself is: what the reader or StopAsync sets on it later is then nobody's to observe.
        static async Task WaitAsync(TaskCompletionSource waiter, CancellationToken cancellationToken)
        {
            using (cancellationToken.UnsafeRegister(static (state, token) => ((TaskCompletionSource)state!).TrySetCanceled(token), waiter))
            {
                await waiter.Task.ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Completes once the changes up to <paramref name="version"/> are in <paramref name="outbox"/>, where they go:
    /// handed out, and past any subscription's state being read that holds them back on that outbox.
    /// </summary>
    public async Task QueuedAsync(long version, ChangeOutbox outbox, CancellationToken cancellationToken)
    {
        await this.ReachedAsync(version, cancellationToken).ConfigureAwait(false);
        TaskCompletionSource passed;
        lock (this.gate)
        {
            // Stopped, nothing releases a mark any more: the message goes on, to find its connection closed.
            if (this.stopped || !this.held.TryGetValue(outbox, out var waiting))
            {
                return;
            }

            // A mark behind what the outbox holds back now: Release lets it through in its place.
            passed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            waiting.Enqueue(new Held(null, null, AfterState: false, passed));
        }

        this.MarkHeld?.Invoke();

        await passed.Task.WaitAsync(cancellationToken).ConfigureAwait(false); // never faults
    }

    public async ValueTask<long> SubscribeAsync(StoreSubscription subscription, long? fromVersion, CancellationToken cancellationToken)
    {
        var registration = new Registration(subscription);
        lock (this.gate)
        {
            this.Add(registration);
            this.BeginOpening(registration);
        }

        try
        {
            return await this.StartAsync(registration, fromVersion, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            this.Unsubscribe(subscription);
            throw;
        }
    }

    public long SubscribeLive(StoreSubscription subscription)
    {
        lock (this.gate)
        {
            this.Add(new Registration(subscription) { SkipThrough = this.position });
            return this.position;
        }
    }

    public void Unsubscribe(StoreSubscription subscription)
    {
        lock (this.gate)
        {
            if (!this.registrations.Remove(subscription, out var registration))
            {
                return;
            }

            if (subscription.IsPrefix)
            {
                this.byPrefix.Remove(registration);
            }
            else if (this.byKey.TryGetValue(subscription.KeyOrPrefix, out var list))
            {
                list.Remove(registration);
                if (list.Count == 0)
                {
                    this.byKey.Remove(subscription.KeyOrPrefix);
                }
            }

            this.Withdraw(registration);
        }

        // Handed out under the gate only: nothing reaches it from here on.
        subscription.Outbox.Remove(subscription.Id);
    }

    private static DateTimeOffset Time(long unixMilliseconds) => DateTimeOffset.FromUnixTimeMilliseconds(unixMilliseconds);

    private static long VersionOf(string streamId) => long.Parse(streamId.AsSpan(0, streamId.IndexOf('-')), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// A log entry as a change: fields k (key), t (kind), s (timestamp), v (value, when it has one), d (deadline), p (the
    /// traceparent it carries, when it has one).
    /// </summary>
    private static ChangeRecord ToChange(long version, ReadOnlySpan<(RedisValue Name, RedisValue Value)> fields, out bool hasDeadline)
    {
        string? key = null;
        var kind = KeyChangeKind.Set;
        byte[]? value = null;
        string? traceParent = null;
        long stamp = 0;
        hasDeadline = false;
        foreach (var (name, fieldValue) in fields)
        {
            switch ((string?)name)
            {
                case "k": key = fieldValue; break;
                case "t": kind = (KeyChangeKind)(int)fieldValue; break;
                case "s": stamp = (long)fieldValue; break;
                case "v": value = fieldValue; break;
                case "d": hasDeadline = true; break;
                case "p": traceParent = fieldValue; break;
            }
        }

        return new ChangeRecord(key ?? string.Empty, kind, value, version, Time(stamp)) { TraceParent = traceParent };
    }

    /// <summary>An entry as the replay script returns it: [id, [field, value, …]].</summary>
    private static ChangeRecord ToChange(RedisResult entry) => ToChange(entry, out _);

    private static ChangeRecord ToChange(RedisResult entry, out bool hasDeadline)
    {
        var parts = (RedisResult[])entry!;
        var flat = (RedisValue[])parts[1]!;
        var fields = new (RedisValue, RedisValue)[flat.Length / 2];
        for (int i = 0; i < fields.Length; i++)
        {
            fields[i] = (flat[2 * i], flat[(2 * i) + 1]);
        }

        return ToChange(VersionOf((string)parts[0]!), fields, out hasDeadline);
    }

    /// <summary>Adds a page's keys, as Resets, to <paramref name="keys"/>; returns its last key, or null when it has none.</summary>
    private static string? ReadPage(RedisResult[] page, Dictionary<string, ChangeRecord> keys)
    {
        string? last = null;
        for (int i = 3; i + 3 < page.Length; i += 4)
        {
            last = (string)page[i]!;
            keys[last] = new ChangeRecord(last, KeyChangeKind.Reset, (byte[])page[i + 1]!, (long)page[i + 2], Time((long)page[i + 3]));
        }

        return last;
    }

    private void Add(Registration registration)
    {
        var subscription = registration.Subscription;
        this.registrations.Add(subscription, registration);
        if (subscription.IsPrefix)
        {
            this.byPrefix.Add(registration);
        }
        else if (this.byKey.TryGetValue(subscription.KeyOrPrefix, out var list))
        {
            list.Add(registration);
        }
        else
        {
            this.byKey.Add(subscription.KeyOrPrefix, [registration]);
        }
    }

    /// <summary>Reads a registration's starting state, then queues it and the changes buffered meanwhile.</summary>
    /// <returns>The store version the state was taken at.</returns>
    private async Task<long> StartAsync(Registration registration, long? fromVersion, CancellationToken cancellationToken)
    {
        while (true)
        {
            var (queued, at) = await this.TryStartAsync(registration, fromVersion, cancellationToken).ConfigureAwait(false);
            if (queued)
            {
                return at;
            }

            // The reader found the log trimmed past it while this state was read: the changes between the state and
            // the first one it read are lost to it, so the state is read again (the buffer keeps filling meanwhile).
            fromVersion = null;
        }
    }

    /// <summary>
    /// Reads the log's changes after <paramref name="from"/> that <paramref name="subscription"/> matches, a page of
    /// <see cref="ReplayPage"/> entries per call, up to the store's version at the last call.
    /// </summary>
    /// <returns>The changes and that version; null when the log no longer holds them all (trimmed, or the store's version went back).</returns>
    private async Task<(List<ChangeRecord> Changes, long At)?> ReplayAsync(StoreSubscription subscription, long from, CancellationToken cancellationToken)
    {
        var changes = new List<ChangeRecord>();
        while (true)
        {
            var replay = (RedisResult[])(await engine.RunAsync(RedisScripts.Replay, cancellationToken, from, subscription.KeyOrPrefix, subscription.IsPrefix ? 1 : 0, ReplayPage).ConfigureAwait(false))!;
            long code = (long)replay[0];
            if (code == 0)
            {
                return null;
            }

            changes.AddRange(replay.Skip(2).Select(ToChange));
            if (code == 1)
            {
                return (changes, (long)replay[1]);
            }

            from = (long)replay[1];
        }
    }

    /// <summary>
    /// Reads a prefix's state, <see cref="SnapshotPage"/> keys per call, so that Redis serves the others between
    /// pages; each page is exact at its own version. The pages are then brought to one version by the log's changes
    /// under the prefix after the first page's (<see cref="ReplayAsync"/>), or, when the log no longer reaches back
    /// that far, the prefix is read again in one call.
    /// </summary>
    /// <returns>The state (its <see cref="KeyChangeKind.PrefixReset"/>, then a Reset per key, by version) and its version.</returns>
    private async Task<(List<ChangeRecord> State, long At)> SnapshotPrefixAsync(StoreSubscription subscription, CancellationToken cancellationToken)
    {
        var keys = new Dictionary<string, ChangeRecord>(StringComparer.Ordinal);
        string cursor = string.Empty;
        long first = -1, at, now;
        while (true)
        {
            var page = (RedisResult[])(await engine.RunAsync(RedisScripts.SnapshotPrefix, cancellationToken, subscription.KeyOrPrefix, cursor, SnapshotPage).ConfigureAwait(false))!;
            (at, now) = ((long)page[0], (long)page[1]);
            first = first < 0 ? at : first;
            cursor = ReadPage(page, keys) ?? cursor;
            if ((long)page[2] == 0)
            {
                break;
            }

            if (this.BetweenPrefixPages is { } hook)
            {
                await hook().ConfigureAwait(false);
            }
        }

        if (at != first)
        {
            if (await this.ReplayAsync(subscription, first, cancellationToken).ConfigureAwait(false) is { } replayed)
            {
                // A key read at its version holds every change to it up to its page's: only those after count. A key
                // not read was absent at its page's version: its changes since the first page's make it what it is.
                foreach (var change in replayed.Changes)
                {
                    if (keys.TryGetValue(change.Key, out var read) && change.Version <= read.Version)
                    {
                        continue;
                    }

                    if (change.Kind is KeyChangeKind.Set or KeyChangeKind.Reset)
                    {
                        keys[change.Key] = new ChangeRecord(change.Key, KeyChangeKind.Reset, change.Value, change.Version, change.Timestamp);
                    }
                    else
                    {
                        keys.Remove(change.Key);
                    }
                }

                at = replayed.At;
            }
            else
            {
                // The log no longer reaches back to the first page: the whole prefix in one call, as before pages.
                keys.Clear();
                var all = (RedisResult[])(await engine.RunAsync(RedisScripts.SnapshotPrefix, cancellationToken, subscription.KeyOrPrefix, string.Empty, 0).ConfigureAwait(false))!;
                (at, now) = ((long)all[0], (long)all[1]);
                ReadPage(all, keys);
            }
        }

        var resets = new List<ChangeRecord>(keys.Count + 1);
        resets.AddRange(keys.Values);
        resets.Sort(static (a, b) => a.Version.CompareTo(b.Version));
        resets.Insert(0, new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.PrefixReset, null, at, Time(now)) { StateCount = keys.Count });
        return (resets, at);
    }

    /// <summary>Reads a starting state and queues it, unless the reader met a gap meanwhile (then false).</summary>
    private async Task<(bool Queued, long At)> TryStartAsync(Registration registration, long? fromVersion, CancellationToken cancellationToken)
    {
        var subscription = registration.Subscription;
        List<ChangeRecord>? state = null;
        long at = 0;
        if (fromVersion is { } from)
        {
            if (await this.ReplayAsync(subscription, from, cancellationToken).ConfigureAwait(false) is { } replayed)
            {
                (state, at) = replayed;
            }
        }

        if (state is null && !subscription.IsPrefix)
        {
            var key = (RedisResult[])(await engine.RunAsync(RedisScripts.SnapshotKey, cancellationToken, subscription.KeyOrPrefix).ConfigureAwait(false))!;
            at = (long)key[0];
            state = key[1].IsNull || key[1].Resp2Type == ResultType.Integer
                ? [new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.Reset, null, at, Time((long)key[3]))]
                : [new ChangeRecord(subscription.KeyOrPrefix, KeyChangeKind.Reset, (byte[])key[1]!, (long)key[2], Time((long)key[3]))];
        }
        else if (state is null)
        {
            (state, at) = await this.SnapshotPrefixAsync(subscription, cancellationToken).ConfigureAwait(false);
        }

        if (this.BeforeStateQueued is { } hook)
        {
            await hook().ConfigureAwait(false);
        }

        lock (this.gate)
        {
            if (!this.registrations.ContainsKey(subscription))
            {
                return (true, at);
            }

            if (registration.Stale)
            {
                registration.Stale = false;
                return (false, at);
            }

            // Queued in its place: at once, unless the state of another subscription of its outbox comes first.
            registration.State = state;
            registration.StateAt = at;
            this.Release(subscription.Outbox);
        }

        return (true, at);
    }

    /// <summary>Hands a change to the subscriptions it matches; under the gate, in version order.</summary>
    private void HandOut(ChangeRecord change)
    {
        if (this.byKey.TryGetValue(change.Key, out var list))
        {
            foreach (var registration in list)
            {
                this.Offer(registration, change);
            }
        }

        foreach (var registration in this.byPrefix)
        {
            if (change.Key.StartsWith(registration.Subscription.KeyOrPrefix, StringComparison.Ordinal))
            {
                this.Offer(registration, change);
            }
        }
    }

    /// <summary>
    /// Hands a change to one subscription: to its outbox, or behind the state being read of a subscription of that
    /// outbox. A change to a subscription whose own state is being read is kept until the state comes, which decides
    /// whether it holds the change already. Under the gate.
    /// </summary>
    private void Offer(Registration registration, ChangeRecord change)
    {
        var subscription = registration.Subscription;
        if (!registration.Opening && change.Version <= registration.SkipThrough)
        {
            return;
        }

        if (this.held.TryGetValue(subscription.Outbox, out var waiting))
        {
            waiting.Enqueue(new Held(registration, change, AfterState: registration.Opening));
        }
        else
        {
            subscription.Outbox.Enqueue(subscription.Id, change);
        }
    }

    /// <summary>Starts reading a registration's state: its place in its outbox's order is now. Under the gate.</summary>
    private void BeginOpening(Registration registration)
    {
        registration.Opening = true;
        registration.State = null;
        var outbox = registration.Subscription.Outbox;
        if (!this.held.TryGetValue(outbox, out var waiting))
        {
            this.held.Add(outbox, waiting = new Queue<Held>());
        }

        waiting.Enqueue(new Held(registration, null, AfterState: false));
    }

    /// <summary>Queues on an outbox what waits for it, up to the first state not read yet. Under the gate.</summary>
    private void Release(ChangeOutbox outbox)
    {
        if (!this.held.TryGetValue(outbox, out var waiting))
        {
            return;
        }

        while (waiting.TryPeek(out var next))
        {
            if (next.Registration is not { } registration)
            {
                next.Mark!.TrySetResult();
                waiting.Dequeue();
                continue;
            }

            var subscription = registration.Subscription;
            if (next.Change is { } change)
            {
                // A change that came while the subscription's state was read: queued if the state does not hold it.
                if (!next.AfterState || change.Version > registration.SkipThrough)
                {
                    outbox.Enqueue(subscription.Id, change);
                }
            }
            else if (registration.State is { } state)
            {
                foreach (var reset in state)
                {
                    outbox.Enqueue(subscription.Id, reset);
                }

                registration.SkipThrough = registration.StateAt;
                registration.State = null;
                registration.Opening = false;
            }
            else
            {
                // Its state is still being read.
                break;
            }

            waiting.Dequeue();
        }

        if (waiting.Count == 0)
        {
            this.held.Remove(outbox);
        }
    }

    /// <summary>Drops what waits for a subscription removed, and lets through what its state held back. Under the gate.</summary>
    private void Withdraw(Registration registration)
    {
        var outbox = registration.Subscription.Outbox;
        if (!this.held.TryGetValue(outbox, out var waiting))
        {
            return;
        }

        var kept = new Queue<Held>(waiting.Where(h => h.Registration != registration)); // marks kept
        if (kept.Count == 0)
        {
            this.held.Remove(outbox);
            return;
        }

        this.held[outbox] = kept;
        this.Release(outbox);
    }

    private async Task ReadAsync()
    {
        var token = engine.Stopping;
        while (!token.IsCancellationRequested)
        {
            long from;
            lock (this.gate)
            {
                from = this.position;
            }

            RedisResult[] entries;
            try
            {
                if (this.BeforeRead is { } hook)
                {
                    await hook().ConfigureAwait(false);
                }

                // The stamp of the change at the position (HandOut compares it with the one handed out), then the
                // entries after it.
                entries = (RedisResult[])(await engine.RunAsync(RedisScripts.ReadLog, CancellationToken.None, from, ReadCount).ConfigureAwait(false))!;
            }
            catch (Exception ex) when (RedisEngine.IsRedisFailure(ex))
            {
                logger.ChangeLogReadFailed(ex, from);
                entries = [];
            }

            int after = 0;
            try
            {
                var changes = entries.Select(static entry => (ToChange(entry, out bool hasDeadline), hasDeadline)).ToList();
                after = changes.Count(c => c.Item1.Version > from);
                this.HandOut(changes);
            }
            catch (Exception ex)
            {
                // The reader must go on: every write of this master waits for it.
                logger.HandOutFailed(ex, from);
            }

            if (after == 0)
            {
                // Nothing after what was handed out: unless the store's version went back below it.
                await this.CheckNotAheadAsync(from).ConfigureAwait(false);
            }
            else if (after == ReadCount)
            {
                // More may follow at once.
                continue;
            }

            // Until a wake-up, or a look at the log after a while in case one was missed.
            if (!await WaitAsync(this.wake, IdleLook, token).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Waits for <paramref name="wake"/> or <paramref name="timeout"/>; false once <paramref name="stopping"/> is
    /// cancelled. The wait is cancelled, not abandoned, at the timeout: an abandoned waiter would take the next wake-up.
    /// </summary>
    internal static async Task<bool> WaitAsync(AsyncAutoResetEvent wake, TimeSpan timeout, CancellationToken stopping)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        idle.CancelAfter(timeout);
        try
        {
            await wake.WaitAsync(idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            // The timeout.
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        return true;
    }

    /// <summary>
    /// Hands out the changes after <see cref="Position"/>, in order. Where they do not follow it, with
    /// <paramref name="onlyFollowing"/> (a wake-up's, whose versions are consecutive) none is handed out, and it returns
    /// false; otherwise the log was trimmed past the reader, and every subscription gets its state again.
    /// </summary>
    private bool HandOut(IEnumerable<(ChangeRecord Change, bool HasDeadline)> changes, bool onlyFollowing = false)
    {
        List<Registration>? resync = null;
        bool deadline = false;
        bool followed = true;
        lock (this.gate)
        {
            if (onlyFollowing && this.stopped)
            {
                // The master is leaving (its own leave commits after this): its subscriptions take nothing more.
                return true;
            }

            foreach (var (change, hasDeadline) in changes)
            {
                if (change.Version <= this.position)
                {
                    if (change.Version == this.position && resync is null)
                    {
                        resync = this.ReplacedAtPosition(change);
                    }

                    continue;
                }

                if (change.Version != this.position + 1 && onlyFollowing)
                {
                    // A wake-up's changes are consecutive: none of them was handed out.
                    followed = false;
                    break;
                }

                if (change.Version != this.position + 1 && resync is null)
                {
                    // The log was trimmed past this reader: what it missed is told as each subscription's state anew.
                    logger.ChangeLogTrimmedPastReader(this.position);
                    resync = this.MarkAllForResync();
                }

                this.HandOut(change);
                this.position = change.Version;
                this.atPosition = CommitStamp.Of(change);
                deadline |= hasDeadline;
            }

            while (this.reachedWaiters.TryPeek(out var waiter, out long version) && version <= this.position)
            {
                this.reachedWaiters.Dequeue();
                waiter.Waiter.TrySetResult();
            }
        }

        if (deadline)
        {
            engine.DeadlineSeen();
        }

        foreach (var registration in resync ?? [])
        {
            _ = this.ResyncAsync(registration);
        }

        return followed;
    }

    /// <summary>
    /// Compares the stamp of a change with the one handed out, where it is at the position: another commit there gives
    /// every subscription its state again. Returns whether it is past the position, for the reader to read.
    /// </summary>
    private bool CompareAtPosition(ChangeRecord stamp)
    {
        List<Registration>? resync;
        lock (this.gate)
        {
            if (stamp.Version != this.position)
            {
                return stamp.Version > this.position;
            }

            resync = this.ReplacedAtPosition(stamp);
        }

        foreach (var registration in resync ?? [])
        {
            _ = this.ResyncAsync(registration);
        }

        return false;
    }

    /// <summary>
    /// Where <paramref name="change"/>, at the position, is another commit than the one handed out there, marks every
    /// subscription to get its state again and returns those to read; null otherwise. Under the gate.
    /// </summary>
    private List<Registration>? ReplacedAtPosition(ChangeRecord change)
    {
        var handedOut = this.atPosition;
        var found = CommitStamp.Of(change);

        // Known from here on (after a start, or a store that went back, the position came from its version alone).
        this.atPosition = found;
        if (handedOut is null || handedOut == found)
        {
            return null;
        }

        logger.StoreReplacedHandedOutChange(this.position);
        return this.MarkAllForResync();
    }

    /// <summary>Marks every subscription to get its state again; returns those whose state is not being read already. Under the gate.</summary>
    private List<Registration> MarkAllForResync()
    {
        var resync = new List<Registration>();
        foreach (var registration in this.registrations.Values)
        {
            if (!registration.Opening)
            {
                this.BeginOpening(registration);
                resync.Add(registration);
            }
            else if (registration.State is not null)
            {
                // Its state came, and waits for its turn behind another's: it may predate the gap, so it is read again,
                // and keeps its place.
                registration.State = null;
                resync.Add(registration);
            }
            else
            {
                // Its state is being read: read again once it comes, since it may predate the gap.
                registration.Stale = true;
            }
        }

        return resync;
    }

    /// <summary>
    /// Checks that the store's version has not gone back below what this reader handed out: after a failover to a
    /// replica that lacked the last writes, or a store emptied, the log's new entries reuse versions this reader has
    /// passed, and it would never read them. Then it starts again from the store's version, and every subscription
    /// gets its state again. Where the store went back below versions only waited for, not read yet, the waits end.
    /// </summary>
    private async Task CheckNotAheadAsync(long from)
    {
        long came;
        lock (this.gate)
        {
            came = this.waitersCame;
        }

        long version;
        try
        {
            version = (long)await RedisEngine.OffTheReaderAsync(engine.Database.StringGetAsync(engine.Key("version"))).ConfigureAwait(false);
        }
        catch (Exception ex) when (RedisEngine.IsRedisFailure(ex))
        {
            return;
        }

        List<Registration> resync;
        lock (this.gate)
        {
            if (this.position != from)
            {
                return;
            }

            if (version > this.position)
            {
                // Changes to read yet (this read failed, or they came after it): the waits end, if they must, once the
                // reader has handed out every change the store still has, so that none goes before them.
                return;
            }

            if (version == this.position)
            {
                this.ReleaseLostWaits(version, came);
                return;
            }

            logger.StoreVersionWentBack(this.position, version);
            this.position = version;
            this.atPosition = null;
            resync = this.MarkAllForResync();

            // Every waiter waits past the old position: those versions are gone, and will come again as other changes
            // (its subscriptions read their state again). Left waiting, a write or a message would wait until the
            // store climbed back there, on an idle store for ever.
            while (this.reachedWaiters.TryDequeue(out var waiter, out _))
            {
                waiter.Waiter.TrySetResult();
            }
        }

        foreach (var registration in resync)
        {
            _ = this.ResyncAsync(registration);
        }
    }

    /// <summary>
    /// Ends the waits, among the first <paramref name="came"/>, for versions past the store's <paramref name="version"/>,
    /// read after they came. Each waits for a change committed before it came, so before that read: a version the
    /// store is now below is one it lost (a failover to a replica that lacked it), not one still to come. Left waiting,
    /// a write or a message would wait until other changes took the store back there, on an idle store for ever.
    /// </summary>
    private void ReleaseLostWaits(long version, long came)
    {
        if (!this.reachedWaiters.UnorderedItems.Any(w => w.Priority > version && w.Element.Number <= came))
        {
            return;
        }

        var kept = new List<((TaskCompletionSource Waiter, long Number) Element, long Priority)>();
        long lost = 0;
        while (this.reachedWaiters.TryDequeue(out var waiter, out long awaited))
        {
            if (awaited > version && waiter.Number <= came)
            {
                lost = Math.Max(lost, awaited);
                waiter.Waiter.TrySetResult();
            }
            else
            {
                kept.Add((waiter, awaited));
            }
        }

        this.reachedWaiters.EnqueueRange(kept);
        logger.StoreLostAwaitedVersions(version, lost);
    }

    /// <summary>
    /// Reads a subscription's state again until it comes, whatever failed (a fault of ours too: given up, the
    /// subscription would hold back its connection's every change for good): it buffers meanwhile, and never ends
    /// silently.
    /// </summary>
    private Task ResyncAsync(Registration registration) => engine.RetryUntilStoppedAsync(
        () => this.StartAsync(registration, fromVersion: null, engine.Stopping),
        ex => logger.ResyncFailed(ex, registration.Subscription.Id, registration.Subscription.KeyOrPrefix),
        anyFailure: true);

    /// <summary>A subscription as the reader sees it.</summary>
    private sealed class Registration(StoreSubscription subscription)
    {
        public StoreSubscription Subscription { get; } = subscription;

        /// <summary>Gets or sets whether its starting state is being read, or waits for its turn: until it is queued.</summary>
        public bool Opening { get; set; }

        /// <summary>Gets or sets the starting state read, waiting for its turn in its outbox; null while it is being read.</summary>
        public List<ChangeRecord>? State { get; set; }

        /// <summary>Gets or sets the version <see cref="State"/> was taken at.</summary>
        public long StateAt { get; set; }

        /// <summary>Gets or sets whether the reader met a gap while the starting state was read: it is read again.</summary>
        public bool Stale { get; set; }

        /// <summary>Gets or sets the version the starting state was taken at, once it is queued: changes up to it are in it.</summary>
        public long SkipThrough { get; set; }
    }

    /// <summary>
    /// What tells one commit at a version from another: its time, kind and key (not its value, which may be large). A
    /// commit again at that version, after the store went back, has another time, key or kind.
    /// </summary>
    private readonly record struct CommitStamp(DateTimeOffset Timestamp, KeyChangeKind Kind, string Key)
    {
        public static CommitStamp Of(ChangeRecord change) => new(change.Timestamp, change.Kind, change.Key);
    }

    /// <summary>
    /// What waits in an outbox's order: a change for a registration, or (<see cref="Change"/> null) the place of its
    /// starting state, or (<see cref="Registration"/> null) a message's <see cref="Mark"/> (<see cref="QueuedAsync"/>).
    /// <see cref="AfterState"/>: the change came while the registration's own state was read, and is queued only if it
    /// is newer than that state.
    /// </summary>
    private readonly record struct Held(Registration? Registration, ChangeRecord? Change, bool AfterState, TaskCompletionSource? Mark = null);
}
