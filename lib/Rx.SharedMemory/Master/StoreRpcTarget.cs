using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Store;
using Rx.SharedMemory.Transport;

namespace Rx.SharedMemory.Master;

/// <summary>
/// The state of one worker connection that its operations use (<see cref="OperationTable"/> dispatches them): the
/// hello, the shared region, the connection's subscriptions and lock requests, and the gate that keeps a dead worker
/// from owning anything. Its exceptions become the protocol's error codes in <see cref="RpcErrors"/>.
/// </summary>
internal sealed class StoreRpcTarget
{
    private readonly KeyValueStore store;
    private readonly LockTable locks;
    private readonly ChangeOutbox outbox;
    private readonly SharedMemoryOptions options;
    private readonly int workerId;
    private readonly ILogger logger;
    private readonly SharedRegion? offeredRegion;
    private SharedRegion? region;
    private readonly ConcurrentDictionary<long, StoreSubscription> subscriptions = new();
    private readonly TaskCompletionSource<int> hello = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // A call that gives the connection something to own (a lock or a place in a lock's queue, an ephemeral key, a
    // subscription) takes effect under this gate, and ReleaseAll closes it first: such a call either lands before the
    // release, which then takes it back, or is refused. A request the reader had already read when the worker died
    // thus cannot leave the dead worker owning anything.
    private readonly Lock releaseGate = new();
    private bool released; // guarded by releaseGate

    // Lock requests of this connection being run or waiting; changed with Interlocked.
    private int lockRequests;

    /// <summary>Whether <c>hello</c> has been answered. Requests run one at a time on the connection's reader thread, which alone sets it.</summary>
    private volatile bool greeted;

    public StoreRpcTarget(KeyValueStore store, LockTable locks, ChangeOutbox outbox, SharedMemoryOptions options, int workerId, SharedRegion? region, ILogger logger)
    {
        this.offeredRegion = region;
        this.store = store;
        this.locks = locks;
        this.outbox = outbox;
        this.options = options;
        this.workerId = workerId;
        this.logger = logger;
    }

    /// <summary>Gets the store the connection's operations run on.</summary>
    internal KeyValueStore Store => this.store;

    /// <summary>Gets the locks the connection's operations take and release.</summary>
    internal LockTable Locks => this.locks;

    /// <summary>Gets a task that completes with the worker's process id when it has said hello.</summary>
    public Task<int> Hello => this.hello.Task;

    /// <summary>
    /// Gets or sets a test hook, run with the method and the key or lock name before a call that gives the connection
    /// something to own, on the reader's thread and outside every lock: a test holds the reader back with it.
    /// </summary>
    internal Action<string, string>? BeforeOwningCall { get; set; }


    /// <param name="protocolVersion">The protocol version the worker speaks.</param>
    /// <param name="processId">The worker's process id.</param>
    /// <param name="sharedRegion">True when the worker has mapped the shared region it was given.</param>
    public HelloResult OnHello(int protocolVersion, int processId, bool sharedRegion = false)
    {
        if (this.greeted)
        {
            throw new ProtocolOrderException($"Worker {this.workerId} said hello twice; hello is answered once, as the first request.");
        }

        if (protocolVersion != RpcMethods.ProtocolVersion)
        {
            throw new ArgumentException($"Protocol version {protocolVersion} is not supported; this master speaks {RpcMethods.ProtocolVersion}.", nameof(protocolVersion));
        }

        this.region = sharedRegion ? this.offeredRegion : null;
        this.greeted = true;
        this.hello.TrySetResult(processId);
        return new HelloResult
        {
            ProtocolVersion = RpcMethods.ProtocolVersion,
            WorkerId = this.workerId,
            MaxKeyLength = this.options.MaxKeyLength,
            MaxValueBytes = this.options.MaxValueBytes,
            Features = this.region is null ? [RpcMethods.BatchFeature] : [RpcMethods.BatchFeature, RpcMethods.SharedRegionFeature],
        };
    }

    public async Task<long> LockAsync(string name, double timeoutMs, CancellationToken cancellationToken)
    {
        this.Greeted();
        if (string.IsNullOrEmpty(name))
        {
            throw new ArgumentException("A lock name must be a non-empty string.", nameof(name));
        }

        InputRules.ThrowIfNotUtf16(name, nameof(name));

        if (!(timeoutMs >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(timeoutMs), timeoutMs, "A lock timeout must be zero or more milliseconds.");
        }

        // A waiting request holds memory until granted or timed out, and the master reads on while it waits: bounded.
        int requests = Interlocked.Increment(ref this.lockRequests);
        try
        {
            if (requests > this.options.MaxWaitingLocksPerConnection)
            {
                throw new SharedMemoryLimitExceededException(name, nameof(SharedMemoryOptions.MaxWaitingLocksPerConnection), this.options.MaxWaitingLocksPerConnection, requests);
            }

            this.BeforeOwningCall?.Invoke(RpcMethods.Lock, name);
            Task<long> acquiring;
            lock (this.releaseGate)
            {
                // The lock is taken, or the wait queued, before the gate opens again; only the wait itself is outside.
                this.ThrowIfReleased();
                acquiring = this.locks.AcquireAsync(name, this.workerId, TimeSpan.FromMilliseconds(timeoutMs), cancellationToken);
            }

            return await acquiring.ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref this.lockRequests);
        }
    }

    /// <summary>
    /// Runs many data operations of one message in order, each as its own request would run: one failing does not
    /// stop the others. The result has one <c>{"result": …}</c> or <c>{"error": …}</c> object per call. Once the
    /// answer holds more than <see cref="ProtocolLimits.MinAnswerBudget"/> bytes (or <see cref="SharedMemoryOptions.MaxValueBytes"/>,
    /// if larger), the calls left are not run and are answered <see cref="RpcErrorCodes.NotRun"/>, for the worker to
    /// send again: an answer holds at most that plus one value, whatever the gets of the batch find.
    /// </summary>
    public RawJson Batch(BatchRequest calls)
    {
        this.Greeted();
        var array = calls.Calls;
        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new ArgumentException("A batch is an array of calls.", nameof(calls));
        }

        var buffer = new ArrayBufferWriter<byte>(256 + (array.GetArrayLength() * 32));
        var results = new RegionResults(this.region);
        long budget = ProtocolLimits.AnswerBudget(this.options.MaxValueBytes);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            bool full = false;
            foreach (var call in array.EnumerateArray())
            {
                full = full || writer.BytesCommitted + writer.BytesPending > budget;
                if (full)
                {
                    BatchAnswer.WriteNotRun(writer);
                }
                else
                {
                    this.Execute(call, writer, ref results);
                }
            }

            writer.WriteEndArray();
        }

        SharedMemoryMetrics.BatchCalls.Record(array.GetArrayLength());
        return new RawJson(buffer.WrittenSpan.ToArray());
    }

    public long Subscribe(long subscription, string key, bool prefix = false, long? fromVersion = null)
    {
        this.Greeted();
        var registration = new StoreSubscription(subscription, key ?? throw new ArgumentNullException(nameof(key)), prefix, this.outbox);
        this.BeforeOwningCall?.Invoke(RpcMethods.Subscribe, key);
        lock (this.releaseGate)
        {
            this.ThrowIfReleased();
            if (this.subscriptions.Count >= this.options.MaxSubscriptionsPerConnection && !this.subscriptions.ContainsKey(subscription))
            {
                throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxSubscriptionsPerConnection), this.options.MaxSubscriptionsPerConnection, this.subscriptions.Count + 1L);
            }

            if (!this.subscriptions.TryAdd(subscription, registration))
            {
                throw new ArgumentException($"Subscription {subscription} already exists on this connection.", nameof(subscription));
            }

            try
            {
                return this.store.Subscribe(registration, fromVersion);
            }
            catch
            {
                this.subscriptions.TryRemove(subscription, out _);
                throw;
            }
        }
    }

    public bool Unsubscribe(long subscription)
    {
        this.Greeted();
        if (this.subscriptions.TryRemove(subscription, out var registration))
        {
            this.store.Unsubscribe(registration);
            return true;
        }

        return false;
    }

    /// <summary>
    /// Releases every lock, lock wait, ephemeral key and subscription of the connection; from now on the calls that
    /// would give it one are refused, even those already read from the pipe.
    /// </summary>
    public void ReleaseAll()
    {
        lock (this.releaseGate)
        {
            this.released = true;
        }

        // What the worker held goes with it: its locks pass to the next waiter, its ephemeral keys are deleted.
        this.locks.ReleaseOwner(this.workerId);
        this.store.ReleaseOwner(this.workerId);
        foreach (var id in this.subscriptions.Keys)
        {
            if (this.subscriptions.TryRemove(id, out var registration))
            {
                this.store.Unsubscribe(registration);
            }
        }

        this.logger.LogDebug("Released the subscriptions of worker {WorkerId}.", this.workerId);
    }

    /// <summary>Refuses a request before <c>hello</c>: until then the master does not know the worker speaks its protocol version.</summary>
    /// <returns>This connection, for a call to go on with.</returns>
    internal StoreRpcTarget Greeted() =>
        this.greeted ? this : throw new ProtocolOrderException($"Worker {this.workerId} sent a request before hello; hello must be the first request.");

    /// <summary>
    /// Runs one <c>[method, arguments…]</c> call of a batch and writes its outcome, known before anything is written:
    /// the result its own request would return, serialized from the same message types.
    /// </summary>
    private void Execute(JsonElement call, Utf8JsonWriter writer, ref RegionResults regionResults)
    {
        object? result;
        try
        {
            result = OperationTable.RunBatched(this, new BatchArguments(call));
        }
        catch (Exception ex)
        {
            // One call's failure is its own result; the master and the other calls go on.
            BatchAnswer.WriteError(writer, ex);
            return;
        }

        if (result is EntryMessage<RawJson> entry && regionResults.TryPlace(entry.Value.Utf8) is { } offset)
        {
            // The value waits in the region; the worker reads it there.
            BatchAnswer.WriteRegionResult(writer, entry.Version, offset, entry.Value.Utf8.Length);
        }
        else
        {
            BatchAnswer.WriteResult(writer, result);
        }
    }

    /// <summary>
    /// Runs a store operation that makes this connection own a key (an ephemeral set), under the gate that
    /// <see cref="ReleaseAll"/> closes: it lands before the release, which takes the key back, or is refused.
    /// </summary>
    /// <typeparam name="TState">What the operation needs.</typeparam>
    /// <typeparam name="TResult">Its result.</typeparam>
    /// <param name="method">The method, for <see cref="BeforeOwningCall"/>.</param>
    /// <param name="key">The key, for <see cref="BeforeOwningCall"/>.</param>
    /// <param name="state">What <paramref name="run"/> needs.</param>
    /// <param name="run">The operation, given the store, the state and this connection's owner id.</param>
    /// <returns>The operation's result.</returns>
    internal TResult AsOwner<TState, TResult>(string method, string key, TState state, Func<KeyValueStore, TState, long, TResult> run)
    {
        this.BeforeOwningCall?.Invoke(method, key);
        lock (this.releaseGate)
        {
            this.ThrowIfReleased();
            return run(this.store, state, this.workerId);
        }
    }

    /// <summary>
    /// Runs a write of this connection under the gate that <see cref="ReleaseAll"/> closes: a write the master read
    /// before the worker's death and runs after its release is refused, as the README promises.
    /// </summary>
    /// <typeparam name="TState">What the write needs.</typeparam>
    /// <typeparam name="TResult">Its result.</typeparam>
    /// <param name="state">What <paramref name="run"/> needs.</param>
    /// <param name="run">The write, given the store and the state.</param>
    /// <returns>The write's result.</returns>
    internal TResult AsWriter<TState, TResult>(TState state, Func<KeyValueStore, TState, TResult> run)
    {
        lock (this.releaseGate)
        {
            this.ThrowIfReleased();
            return run(this.store, state);
        }
    }

    /// <summary>Refuses a write, or a call that would give a released connection something to own; under <see cref="releaseGate"/>.</summary>
    private void ThrowIfReleased()
    {
        if (this.released)
        {
            throw new ObjectDisposedException($"worker {this.workerId}", $"The connection of worker {this.workerId} is closed: its process has exited or its pipe has ended.");
        }
    }

    /// <summary>
    /// A set's value: the JSON argument, or, when the call carries <c>regionOffset, regionLength</c> at
    /// <paramref name="regionAt"/>, a copy of what the worker put in the shared region, checked to be one JSON value.
    /// </summary>
    internal byte[] ValueOf(BatchArguments arguments, int keyAt, int valueAt, int regionAt)
    {
        if (arguments.OptionalInt64(regionAt, "regionOffset") is not { } offset)
        {
            return RawJson.CopyOf(arguments.Value(valueAt, "value"));
        }

        long length = arguments.OptionalInt64(regionAt + 1, "regionLength") ?? throw new ArgumentException("A region offset comes with a region length.", "regionLength");
        if (this.region is null)
        {
            throw new ArgumentException("This connection has no shared region.", "regionOffset");
        }

        if (length > this.options.MaxValueBytes)
        {
            throw new SharedMemoryLimitExceededException(arguments.String(keyAt, "key"), nameof(SharedMemoryOptions.MaxValueBytes), this.options.MaxValueBytes, length);
        }

        // Copied before it is checked: the worker could change the region's bytes meanwhile, never the copy's.
        var value = this.region.Read(SharedRegion.Area.ToMaster, offset, length, static bytes => bytes.ToArray());
        if (OneJsonValue(value) is not { } range)
        {
            throw new ArgumentException($"The value of {SharedMemoryLimitExceededException.DescribeKey(arguments.String(keyAt, "key"))} in the shared region is not one JSON value.", "regionOffset");
        }

        // The region does not pass the frame guard, which refuses bytes that are not UTF-8 in a message.
        if (!System.Text.Unicode.Utf8.IsValid(value))
        {
            throw new ArgumentException($"The value of {SharedMemoryLimitExceededException.DescribeKey(arguments.String(keyAt, "key"))} in the shared region is not valid UTF-8.", "regionOffset");
        }

        if (range.Start.Value != 0 || range.End.Value != value.Length)
        {
            value = value[range]; // without the whitespace around it, as an inline value is stored
        }

        SharedMemoryMetrics.SharedRegionBytes.Add(value.Length, SharedMemoryMetrics.ToMaster);
        return value;
    }

    /// <summary>Where the one JSON value of <paramref name="json"/> lies, whitespace aside; null when it is not exactly one value.</summary>
    private static Range? OneJsonValue(byte[] json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read())
            {
                return null;
            }

            int start = (int)reader.TokenStartIndex;
            if (!reader.TrySkip())
            {
                return null;
            }

            int end = (int)reader.BytesConsumed;
            return reader.Read() ? null : start..end;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The to-worker area of the shared region, taken for one batch's large results when it is free.</summary>
    private struct RegionResults(SharedRegion? region)
    {
        private bool claimed;
        private bool unavailable = region is null;
        private int used;

        /// <summary>Copies a large value into the area and returns its offset; null when it travels inline.</summary>
        public int? TryPlace(byte[] value)
        {
            if (this.unavailable || value.Length < ProtocolLimits.MinRegionValueBytes || value.Length > region!.AreaBytes - this.used)
            {
                return null;
            }

            if (!this.claimed)
            {
                // Still busy means the worker has not read the last batch's values yet: these take the pipe.
                this.claimed = region!.TryClaimToWorker();
                this.unavailable = !this.claimed;
                if (this.unavailable)
                {
                    return null;
                }
            }

            if (!region!.TryWrite(SharedRegion.Area.ToWorker, this.used, value))
            {
                return null;
            }

            int offset = this.used;
            this.used += value.Length;
            SharedMemoryMetrics.SharedRegionBytes.Add(value.Length, SharedMemoryMetrics.ToWorker);
            return offset;
        }
    }
}
