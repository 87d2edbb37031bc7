using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Reactive.Disposables;
using System.Reactive.Subjects;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Rx.SharedMemory.Mirror;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Serialization;

namespace Rx.SharedMemory;

/// <summary>
/// A read-only, in-process copy of every key under a prefix, kept current by the store's change stream
/// (<see cref="ISharedStore.ObservePrefix"/>): reads are synchronous and leave the process. Made by
/// <see cref="SharedStoreExtensions.MirrorAsync"/>.
/// </summary>
/// <remarks>
/// <para>
/// Each key's version only grows: a read never returns an older state of a key than an earlier read of it did, and
/// every value it returns was committed. <see cref="Version"/> is how far the stream has been applied. Writes this
/// process makes through the same store (set, compare-and-set, increment, delete) show in the mirror as soon as their
/// call returns, before the stream brings them (read-your-writes): the mirror serves the written value.
/// </para>
/// <para>
/// When the connection to the master is lost the mirror keeps answering from its last state, with
/// <see cref="IsConnected"/> <see langword="false"/>; it never becomes current again. As an observable it delivers
/// the stream's changes it applies, in the stream's order, and ends as the stream does.
/// </para>
/// </remarks>
public sealed class SharedStoreMirror : IObservable<KeyChange>, IDisposable
{
    private readonly ConcurrentDictionary<string, MirrorEntry> entries = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    // Guarded by gate: this process's deletions the stream has not reached yet (key to version), so that an older
    // change on its way does not bring the key back.
    private readonly Dictionary<string, long> ownDeletes = new(StringComparer.Ordinal);

    // Guarded by gate: keys this process is writing, with the latest version the stream deleted each at meanwhile.
    private readonly Dictionary<string, InFlight> inFlight = new(StringComparer.Ordinal);

    // Guarded by gate: callers of WaitForVersionAsync, by version.
    private readonly PriorityQueue<TaskCompletionSource, long> waiters = new();

    private readonly ReplaySubject<bool> connection = new(1);
    private readonly TaskCompletionSource whole = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly OwnWrites? ownWrites;

    // Copy-on-write; called in the stream's order, outside the gate.
    private ImmutableArray<IObserver<KeyChange>> observers = [];

    // Held while observers are called, so that a change and the end never reach one observer at once.
    private readonly Lock delivering = new();

    // Guarded by gate: the prefix state being received, if any.
    private PendingState? state;
    private long marks;

    // The store's options of values, read-only, for the typed reads without a JsonTypeInfo (set once by the constructor).
    private readonly JsonSerializerOptions? valueOptions;

    // Written under gate, read without it.
    private long version;
    private int count;
    private volatile bool connected = true;
    // 1 once Dispose has begun: set by Interlocked, so that two threads disposing run it once.
    private int disposeCalled;

    // Guarded by gate: why the stream ended.
    private Exception? ended;
    private IDisposable? subscription;

    private SharedStoreMirror(string prefix, OwnWrites? ownWrites, JsonSerializerOptions? valueOptions)
    {
        this.Prefix = prefix;
        this.ownWrites = ownWrites;
        this.valueOptions = valueOptions;
        this.connection.OnNext(true);
    }

    /// <summary>Gets the prefix every mirrored key starts with.</summary>
    public string Prefix { get; }

    /// <summary>
    /// Gets the store version up to which the mirror has applied the change stream: every change committed at or before
    /// it is reflected, except one that a slow stream conflated into a later change of the same key still on its way
    /// (<see cref="KeyChange.SkippedVersions"/>). This process's own writes show earlier and do not move it.
    /// </summary>
    public long Version => Volatile.Read(ref this.version);

    /// <summary>Gets the number of keys the mirror holds.</summary>
    public int Count => Volatile.Read(ref this.count);

    /// <summary>Gets the keys the mirror holds, enumerated without a lock (keys changed meanwhile may or may not appear).</summary>
    public IEnumerable<string> Keys
    {
        get
        {
            ObjectDisposedException.ThrowIf(this.Disposed, this);
            return this.entries.Select(static pair => pair.Key);
        }
    }

    /// <summary>
    /// Gets a value indicating whether the change stream still runs. <see langword="false"/> once the master is lost (or
    /// the store disposed): reads answer from the last state, which no longer follows the store.
    /// </summary>
    public bool IsConnected => this.connected;

    /// <summary>
    /// Gets <see cref="IsConnected"/> as an observable: the current value on subscription, then <see langword="false"/>
    /// when the stream ends, then completion.
    /// </summary>
    public IObservable<bool> Connected => this.connection;

    /// <summary>
    /// Gets why the change stream ended (such as <see cref="SharedMemoryDisconnectedException"/>), or
    /// <see langword="null"/> while it runs or when it completed because the store was disposed.
    /// </summary>
    public Exception? Disconnection
    {
        get
        {
            lock (this.gate)
            {
                return this.ended is ObjectDisposedException ? null : this.ended;
            }
        }
    }

    private bool Disposed => Volatile.Read(ref this.disposeCalled) != 0;

    /// <summary>Reads a key's value, with the store's <see cref="JsonSerializerOptions"/>.</summary>
    /// <typeparam name="T">The type to read the value as; the value read is cached per version and type.</typeparam>
    /// <param name="key">The key; it must start with <see cref="Prefix"/>.</param>
    /// <param name="value">The value; <see langword="default"/> when the key is absent.</param>
    /// <returns>Whether the key exists in the mirror.</returns>
    /// <remarks>Repeated reads of one version return the same instance: treat a reference value as read-only.</remarks>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null, empty, or not under <see cref="Prefix"/>.</exception>
    /// <exception cref="JsonException">The value cannot be read as <typeparamref name="T"/>; the message names the key.</exception>
    /// <exception cref="ObjectDisposedException">The mirror was disposed.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public bool TryGet<T>(string key, out T? value) => this.TryGet(key, ValueJson.TypeInfo<T>(this.valueOptions), out value);

    /// <summary>Reads a key's value with the type's JSON contract.</summary>
    /// <typeparam name="T">The type to read the value as; the value read is cached per version and contract.</typeparam>
    /// <param name="key">The key; it must start with <see cref="Prefix"/>.</param>
    /// <param name="jsonTypeInfo">How to read <typeparamref name="T"/>, such as a source-generated context's property for it.</param>
    /// <param name="value">The value; <see langword="default"/> when the key is absent.</param>
    /// <returns>Whether the key exists in the mirror.</returns>
    /// <remarks>Repeated reads of one version return the same instance: treat a reference value as read-only.</remarks>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null, empty, or not under <see cref="Prefix"/>.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="JsonException">The value cannot be read as <typeparamref name="T"/>; the message names the key.</exception>
    /// <exception cref="ObjectDisposedException">The mirror was disposed.</exception>
    public bool TryGet<T>(string key, JsonTypeInfo<T> jsonTypeInfo, out T? value)
    {
        if (this.TryGetEntry(key, jsonTypeInfo, out var entry))
        {
            value = entry.Value;
            return true;
        }

        value = default;
        return false;
    }

    /// <summary>Reads a key's value with the version of its last change, with the store's <see cref="JsonSerializerOptions"/>.</summary>
    /// <typeparam name="T">The type to read the value as; the entry is cached per version and type.</typeparam>
    /// <param name="key">The key; it must start with <see cref="Prefix"/>.</param>
    /// <param name="entry">The entry; <see langword="null"/> when the key is absent.</param>
    /// <returns>Whether the key exists in the mirror.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null, empty, or not under <see cref="Prefix"/>.</exception>
    /// <exception cref="JsonException">The value cannot be read as <typeparamref name="T"/>; the message names the key.</exception>
    /// <exception cref="ObjectDisposedException">The mirror was disposed.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public bool TryGetEntry<T>(string key, [NotNullWhen(true)] out StoreEntry<T>? entry) => this.TryGetEntry(key, ValueJson.TypeInfo<T>(this.valueOptions), out entry);

    /// <summary>Reads a key's value with the version of its last change, with the type's JSON contract.</summary>
    /// <typeparam name="T">The type to read the value as; the entry is cached per version and contract.</typeparam>
    /// <param name="key">The key; it must start with <see cref="Prefix"/>.</param>
    /// <param name="jsonTypeInfo">How to read <typeparamref name="T"/>, such as a source-generated context's property for it.</param>
    /// <param name="entry">The entry; <see langword="null"/> when the key is absent.</param>
    /// <returns>Whether the key exists in the mirror.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null, empty, or not under <see cref="Prefix"/>.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="JsonException">The value cannot be read as <typeparamref name="T"/>; the message names the key.</exception>
    /// <exception cref="ObjectDisposedException">The mirror was disposed.</exception>
    public bool TryGetEntry<T>(string key, JsonTypeInfo<T> jsonTypeInfo, [NotNullWhen(true)] out StoreEntry<T>? entry)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        this.ThrowIfNotMirrored(key);
        if (!this.entries.TryGetValue(key, out var stored))
        {
            entry = null;
            return false;
        }

        // Cached per contract: the same type read with other options may be another value.
        object? seen = Volatile.Read(ref stored.Typed);
        if (seen is TypedEntry<T> cached && ReferenceEquals(cached.Contract, jsonTypeInfo))
        {
            entry = cached.Entry;
            return true;
        }

        T value;
        try
        {
            value = JsonSerializer.Deserialize(stored.Utf8Json, jsonTypeInfo)!;
        }
        catch (Exception ex) when (ValueErrors.IsSerializerError(ex))
        {
            throw ValueErrors.Unreadable(key, typeof(T), ex);
        }

        // Published only over what this read saw: of readers parsing the same version at once, the first to publish
        // wins and the others return its instance, so every read of the version gets the same one.
        var made = new TypedEntry<T>(jsonTypeInfo, new StoreEntry<T>(value, stored.Version));
        while (Interlocked.CompareExchange(ref stored.Typed, made, seen) is var published && !ReferenceEquals(published, seen))
        {
            if (published is TypedEntry<T> first && ReferenceEquals(first.Contract, jsonTypeInfo))
            {
                entry = first.Entry;
                return true;
            }

            seen = published; // another type's read: this one is the last
        }

        entry = made.Entry;
        return true;
    }

    /// <summary>Reads a key's value as it is stored: compact UTF-8 JSON, with its version.</summary>
    /// <param name="key">The key; it must start with <see cref="Prefix"/>.</param>
    /// <param name="utf8Json">The value's JSON; empty when the key is absent. Do not change it.</param>
    /// <param name="keyVersion">The version of the key's last change; 0 when it is absent.</param>
    /// <returns>Whether the key exists in the mirror.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> is null, empty, or not under <see cref="Prefix"/>.</exception>
    /// <exception cref="ObjectDisposedException">The mirror was disposed.</exception>
    public bool TryGetJson(string key, out ReadOnlyMemory<byte> utf8Json, out long keyVersion)
    {
        this.ThrowIfNotMirrored(key);
        if (this.entries.TryGetValue(key, out var stored))
        {
            utf8Json = stored.Utf8Json;
            keyVersion = stored.Version;
            return true;
        }

        utf8Json = default;
        keyVersion = 0;
        return false;
    }

    /// <summary>Waits until <see cref="Version"/> reaches <paramref name="atLeast"/>.</summary>
    /// <param name="atLeast">The store version to wait for, such as one another process wrote at.</param>
    /// <param name="cancellationToken">A token that cancels the wait.</param>
    /// <returns>A task that completes when the mirror has applied the stream up to that version.</returns>
    /// <exception cref="SharedMemoryDisconnectedException">The stream ended before reaching it.</exception>
    /// <exception cref="ObjectDisposedException">The mirror was disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task WaitForVersionAsync(long atLeast, CancellationToken cancellationToken = default)
    {
        if (this.Disposed)
        {
            return Task.FromException(new ObjectDisposedException(nameof(SharedStoreMirror)));
        }

        if (this.Version >= atLeast)
        {
            return Task.CompletedTask;
        }

        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (this.gate)
        {
            if (this.ended is { } cause)
            {
                waiter.TrySetException(this.Ended(cause, atLeast));
            }
            else if (this.version >= atLeast)
            {
                return Task.CompletedTask;
            }
            else
            {
                this.waiters.Enqueue(waiter, atLeast);
            }
        }

        return cancellationToken.CanBeCanceled ? this.WaitCancellablyAsync(waiter, cancellationToken) : waiter.Task;
    }

    /// <summary>
    /// Subscribes to the changes of the stream the mirror applies, in the stream's order, after it applied each: its
    /// <see cref="KeyChangeKind.PrefixReset"/> and <see cref="KeyChangeKind.Reset"/> changes too, and none older than
    /// what the mirror holds. The subscription ends as the stream does (with
    /// <see cref="SharedMemoryDisconnectedException"/> when the master is lost) or completes on disposal; one made once
    /// the stream has ended ends at once the same way, except after the mirror's disposal, when it fails with
    /// <see cref="ObjectDisposedException"/>, as the mirror's reads do.
    /// </summary>
    /// <param name="observer">The observer; one that throws is unsubscribed, and the mirror goes on.</param>
    /// <returns>A disposable that unsubscribes.</returns>
    public IDisposable Subscribe(IObserver<KeyChange> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        Exception? cause;
        lock (this.gate)
        {
            cause = this.ended;
            if (cause is null)
            {
                this.observers = this.observers.Add(observer);
                return Disposable.Create(() => ImmutableInterlocked.Update(ref this.observers, static (list, o) => list.Remove(o), observer));
            }
        }

        if (this.Disposed)
        {
            observer.OnError(new ObjectDisposedException(nameof(SharedStoreMirror)));
        }
        else
        {
            End(observer, cause);
        }

        return Disposable.Empty;
    }

    /// <summary>Ends the subscription to the store, completes the observers and fails the waits. Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref this.disposeCalled, 1) != 0)
        {
            return;
        }

        this.ownWrites?.Remove(this);
        IDisposable? source;
        lock (this.gate)
        {
            source = this.subscription;
            this.subscription = null;
        }

        source?.Dispose();
        this.Finish(new ObjectDisposedException(nameof(SharedStoreMirror)));
    }

    /// <summary>Makes a mirror and waits until it holds the prefix's whole state.</summary>
    internal static async Task<SharedStoreMirror> StartAsync(ISharedStore store, string prefix, CancellationToken cancellationToken)
    {
        var mirror = new SharedStoreMirror(prefix, (store as IOwnWriteSource)?.OwnWrites, (store as IValueOptionsSource)?.ValueOptions);

        // Attached before subscribing: a write acknowledged while the state arrives is not missed.
        mirror.ownWrites?.Add(mirror);
        try
        {
            var source = store.ObservePrefix(prefix).Subscribe(new StreamObserver(mirror));
            lock (mirror.gate)
            {
                if (mirror.ended is null)
                {
                    mirror.subscription = source;
                    source = null;
                }
            }

            source?.Dispose();
            await mirror.whole.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return mirror;
        }
        catch
        {
            mirror.Dispose();
            throw;
        }
    }

    /// <summary>Tells whether the mirror holds <paramref name="key"/>'s prefix.</summary>
    internal bool Covers(string key) => key.StartsWith(this.Prefix, StringComparison.Ordinal);

    /// <summary>Notes a write of this process about to be sent; false when the key is not mirrored here.</summary>
    internal bool BeginOwnWrite(string key)
    {
        if (!this.Covers(key))
        {
            return false;
        }

        lock (this.gate)
        {
            ref var flight = ref CollectionsMarshal.GetValueRefOrAddDefault(this.inFlight, key, out _);
            flight.Count++;
        }

        return true;
    }

    /// <summary>
    /// Applies this process's acknowledged write: a value (<paramref name="utf8Json"/>), a deletion (null, with a
    /// version), or nothing (version 0). The key moves only forward.
    /// </summary>
    internal void EndOwnWrite(string key, byte[]? utf8Json, long writtenAt)
    {
        if (!this.Covers(key))
        {
            return;
        }

        lock (this.gate)
        {
            // Without a note of it (this mirror came while the write was in flight), the stream's position is the
            // only bound on what may have deleted the key since.
            long deletedSince = this.version;
            if (this.inFlight.TryGetValue(key, out var flight))
            {
                deletedSince = flight.DeletedAt;
                if (--flight.Count == 0)
                {
                    this.inFlight.Remove(key);
                }
                else
                {
                    this.inFlight[key] = flight;
                }
            }

            if (writtenAt == 0 || writtenAt <= deletedSince || writtenAt <= this.KeyVersion(key) || this.ended is not null)
            {
                return;
            }

            if (utf8Json is null)
            {
                this.Remove(key);
                if (writtenAt > this.version)
                {
                    this.ownDeletes[key] = writtenAt;
                }
            }
            else
            {
                this.Put(key, new MirrorEntry(utf8Json, writtenAt));
            }
        }
    }

    private static void End(IObserver<KeyChange> observer, Exception cause)
    {
        if (cause is ObjectDisposedException)
        {
            observer.OnCompleted();
        }
        else
        {
            observer.OnError(cause);
        }
    }

    private void ThrowIfNotMirrored(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (!this.Covers(key))
        {
            throw new ArgumentException($"Key '{key}' is not under the mirror's prefix '{this.Prefix}'.", nameof(key));
        }

        ObjectDisposedException.ThrowIf(this.Disposed, this);
    }

    /// <summary>The version the mirror holds for a key: its entry's, or that of a deletion of this process not yet streamed. Under the gate.</summary>
    private long KeyVersion(string key) =>
        this.entries.TryGetValue(key, out var entry) ? entry.Version : this.ownDeletes.GetValueOrDefault(key);

    /// <summary>Under the gate.</summary>
    private void Put(string key, MirrorEntry entry)
    {
        if (this.entries.TryGetValue(key, out var old))
        {
            entry.Mark = old.Mark;
        }
        else
        {
            this.count++;
        }

        this.entries[key] = entry;
        this.ownDeletes.Remove(key);
    }

    /// <summary>Under the gate.</summary>
    private void Remove(string key)
    {
        if (this.entries.TryRemove(key, out _))
        {
            this.count--;
        }
    }

    /// <summary>Notes a deletion the stream brought, for a write of this process in flight. Under the gate.</summary>
    /// <summary>Gets how many waits for a version are queued, for tests.</summary>
    internal int WaitingCount
    {
        get
        {
            lock (this.gate)
            {
                return this.waiters.Count;
            }
        }
    }

    /// <summary>Waits for <paramref name="waiter"/>; a cancelled wait leaves the queue, so that polling with timeouts does not grow it.</summary>
    private async Task WaitCancellablyAsync(TaskCompletionSource waiter, CancellationToken cancellationToken)
    {
        using (cancellationToken.UnsafeRegister(
            static (state, token) =>
            {
                var (mirror, waiter) = ((SharedStoreMirror, TaskCompletionSource))state!;
                lock (mirror.gate)
                {
                    mirror.waiters.Remove(waiter, out _, out _);
                }

                waiter.TrySetCanceled(token);
            },
            (this, waiter)))
        {
            await waiter.Task.ConfigureAwait(false);
        }
    }

    private void NoteDeleted(string key, long at)
    {
        if (this.inFlight.Count > 0 && this.inFlight.TryGetValue(key, out var flight) && flight.DeletedAt < at)
        {
            this.inFlight[key] = flight with { DeletedAt = at };
        }
    }

    /// <summary>Applies one change of the stream; returns whether it is current (not older than what the key holds).</summary>
    private bool Apply(KeyChange change)
    {
        switch (change.Kind)
        {
            case KeyChangeKind.PrefixReset:
                this.state = new PendingState(change.Version, change.StateCount, ++this.marks, rewind: change.Version < this.version);
                if (change.StateCount == 0)
                {
                    this.EndState();
                }

                return true;

            case KeyChangeKind.Reset when this.state is { } pending:
                bool current = this.ApplyValue(change, force: pending.Rewind);
                if (this.entries.TryGetValue(change.Key, out var listed))
                {
                    listed.Mark = pending.Mark;
                }

                if (pending.Remaining > 0 && --pending.Remaining == 0)
                {
                    this.EndState();
                }

                return current;

            default:
                bool applied = this.ApplyValue(change, force: false);
                this.Advance(change.Version);
                return applied;
        }
    }

    /// <summary>Sets or removes a key as a change says, unless the mirror holds a later version of it. Under the gate.</summary>
    private bool ApplyValue(KeyChange change, bool force)
    {
        string key = change.Key;
        long held = this.KeyVersion(key);
        if (!force && change.Version < held)
        {
            return false;
        }

        if (change.Exists)
        {
            if (force || change.Version > held)
            {
                var raw = JsonMarshal.GetRawUtf8Value(change.Value);
                this.Put(key, new MirrorEntry(raw.ToArray(), change.Version));
            }
        }
        else
        {
            this.Remove(key);
            this.ownDeletes.Remove(key);
            this.NoteDeleted(key, change.Version);
        }

        return true;
    }

    /// <summary>Ends a prefix state: keys it did not list, and that are not newer than it, are gone. Under the gate.</summary>
    private void EndState()
    {
        var pending = this.state!;
        this.state = null;
        foreach (var (key, entry) in this.entries)
        {
            if (entry.Mark != pending.Mark && (pending.Rewind || entry.Version <= pending.Version))
            {
                this.Remove(key);
                this.NoteDeleted(key, pending.Version);
            }
        }

        // A key written by this process, in flight, and absent from the state was deleted by its version at the
        // latest: the write's late answer must not bring it back if it is older.
        foreach (var key in this.inFlight.Keys.ToArray())
        {
            if (!this.entries.TryGetValue(key, out var listed) || listed.Mark != pending.Mark)
            {
                this.NoteDeleted(key, pending.Version);
            }
        }

        if (pending.Rewind)
        {
            // The store went back (a failover that lost writes): its state is the truth, whatever came before.
            this.ownDeletes.Clear();
            Volatile.Write(ref this.version, pending.Version);
        }

        this.Advance(pending.Version);
        this.whole.TrySetResult();
    }

    /// <summary>Moves <see cref="Version"/> forward and drops what it makes obsolete. Under the gate.</summary>
    private void Advance(long to)
    {
        if (to <= this.version)
        {
            return;
        }

        Volatile.Write(ref this.version, to);
        if (this.ownDeletes.Count > 0)
        {
            // Past a deletion's version, the stream brings nothing older of the key.
            foreach (var (key, at) in this.ownDeletes)
            {
                if (at <= to)
                {
                    this.ownDeletes.Remove(key);
                }
            }
        }
    }

    /// <summary>Takes the waits the version has reached. Under the gate.</summary>
    private List<TaskCompletionSource>? TakeReached()
    {
        List<TaskCompletionSource>? reached = null;
        while (this.waiters.TryPeek(out _, out long at) && at <= this.version)
        {
            (reached ??= []).Add(this.waiters.Dequeue());
        }

        return reached;
    }

    private void OnChange(KeyChange change)
    {
        bool current;
        List<TaskCompletionSource>? reached;
        lock (this.gate)
        {
            if (this.ended is not null)
            {
                return;
            }

            if (this.state is not null && change.Kind != KeyChangeKind.Reset)
            {
                // A state whose size its source did not give ends with the first change that is not of it.
                this.EndState();
            }

            current = this.Apply(change);
            reached = this.TakeReached();
        }

        foreach (var waiter in reached ?? [])
        {
            waiter.TrySetResult();
        }

        if (current)
        {
            // One delivery at a time with the end's (a disposal on another thread): an observer never gets OnCompleted
            // while its OnNext runs, nor OnNext after it.
            lock (this.delivering)
            {
                foreach (var observer in this.observers)
                {
                    try
                    {
                        observer.OnNext(change);
                    }
                    catch (Exception)
                    {
                        // An observer's fault ends its own subscription, never the mirror.
                        ImmutableInterlocked.Update(ref this.observers, static (list, o) => list.Remove(o), observer);
                    }
                }
            }
        }
    }

    /// <summary>Ends the mirror's stream, once: reads go on from the last state.</summary>
    private void Finish(Exception cause)
    {
        ImmutableArray<IObserver<KeyChange>> ending;
        lock (this.gate)
        {
            if (this.ended is not null)
            {
                return;
            }

            this.ended = cause;
            this.connected = false;
            while (this.waiters.TryDequeue(out var waiter, out long at))
            {
                waiter.TrySetException(this.Ended(cause, at));
            }

            ending = this.observers;
            this.observers = [];
        }

        if (this.Disposed)
        {
            // Nobody waits for the state any more (a start that was cancelled, or a disposal).
            this.whole.TrySetCanceled();
        }
        else
        {
            // A start fails as the subscription did: a prefix refused, a limit, a store disposed, a master gone. Once
            // the mirror was whole this does nothing: the end of its stream is then a disconnection (Ended).
            this.whole.TrySetException(cause);
        }

        this.connection.OnNext(false);
        this.connection.OnCompleted();
        lock (this.delivering)
        {
            foreach (var observer in ending)
            {
                try
                {
                    End(observer, cause);
                }
                catch (Exception)
                {
                    // As in OnNext: the observer's own fault.
                }
            }
        }
    }

    private Exception Ended(Exception cause, long atLeast) => cause switch
    {
        ObjectDisposedException when this.Disposed => new ObjectDisposedException(nameof(SharedStoreMirror)),
        SharedMemoryDisconnectedException => cause,
        _ => new SharedMemoryDisconnectedException(
            atLeast > 0
                ? $"The mirror of '{this.Prefix}' stopped at version {this.Version}, before {atLeast}: its change stream ended."
                : $"The mirror of '{this.Prefix}' stopped: its change stream ended.",
            cause),
    };

    /// <summary>A key this process is writing: how many writes are in flight, and the latest deletion the stream brought meanwhile.</summary>
    private record struct InFlight(int Count, long DeletedAt);

    /// <summary>A prefix state being received: at which version, how many resets are still to come (-1: unknown), and the mark of the keys it lists.</summary>
    private sealed class PendingState(long version, int remaining, long mark, bool rewind)
    {
        public long Version { get; } = version;

        public int Remaining { get; set; } = remaining;

        public long Mark { get; } = mark;

        public bool Rewind { get; } = rewind;
    }

    /// <summary>The mirror's subscription to the store's stream.</summary>
    private sealed class StreamObserver(SharedStoreMirror mirror) : IObserver<KeyChange>
    {
        public void OnNext(KeyChange value) => mirror.OnChange(value);

        public void OnError(Exception error) => mirror.Finish(error);

        public void OnCompleted() => mirror.Finish(new ObjectDisposedException(objectName: null, message: "The store was disposed."));
    }

    /// <summary>An entry read with a contract, cached until the key's next version.</summary>
    private sealed record TypedEntry<T>(JsonTypeInfo<T> Contract, StoreEntry<T> Entry);
}
