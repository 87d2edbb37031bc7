using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Logging;
using Rx.SharedMemory.Messaging;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Store;
using Rx.SharedMemory.Transport;

namespace Rx.SharedMemory.Master;

/// <summary>
/// What one worker's connection serves and owns (<see cref="OperationTable"/> dispatches its operations here): the
/// hello, the shared region, the connection's subscriptions and lock requests, and the gate that keeps a dead worker
/// from owning anything. Its exceptions become the protocol's error codes in <see cref="RpcErrors"/>. The process,
/// pipes and JSON-RPC channel that carry them are in WorkerConnection.cs.
/// </summary>
internal sealed partial class WorkerConnection
{
    private readonly IStoreEngine engine;
    private readonly SharedMemoryOptions options;
    private readonly SharedRegion? offeredRegion;
    private readonly ConcurrentDictionary<long, StoreSubscription> subscriptions = new();
    private readonly TaskCompletionSource<int> hello = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SharedRegion? region; // set by hello, on the reader's thread, before any other request runs

    // A write, or a call that gives the connection something to own (a lock or a place in a lock's queue, an
    // ephemeral key, a subscription), passes this gate before it reaches the engine, and ReleaseAllAsync closes it,
    // then waits for the calls that passed to land before it takes back what the connection owns: such a call either
    // lands before the release or is refused. A request the reader had already read when the worker died thus cannot
    // leave the dead worker owning anything, whether the engine answers at once or from another machine.
    private readonly Lock releaseGate = new();
    private bool released; // guarded by releaseGate
    private int landing; // guarded by releaseGate: calls past the gate whose engine operation has not completed
    private TaskCompletionSource? landed; // guarded by releaseGate: set once released, while calls are landing

    // Where the worker's messages go (the master's observers of them); none for a connection made for tests.
    private readonly MessageHub<WorkerMessage>? messages;

    // What holds the next read of the worker's pipe back: a message while one of its observers is behind, an operation
    // until the engine has done it (OperationTable.HoldingReadsAsync).
    private readonly ReadHold readHold = new();

    // The locks this worker holds, token to name, as its grants and unlocks tell them (an unlock of one by its name
    // forgets it, even when the engine no longer had it held, as after a lost lease), and its lock requests being run
    // or waiting, each of which may become one. Both bounded; guarded by heldLocks.
    private readonly Dictionary<long, string> heldLocks = [];
    private int lockRequests;

    // A message to the worker is queued once the engine has caught up with the changes committed before it was sent
    // (other masters' too, with a store they share), and after the messages sent before it.
    private readonly MessageTurns messageTurns = new();

    // The worker's messages refused so far (RefuseMessage).
    private long messagesRefused;

    /// <summary>Whether <c>hello</c> has been answered. Requests run one at a time on the connection's reader thread, which alone sets it.</summary>
    private volatile bool greeted;

    /// <summary>
    /// A connection without a process or a channel of its own, for tests that register its operations on a JSON-RPC
    /// connection of theirs (<see cref="OperationTable.Register"/>) or call them directly.
    /// </summary>
    internal WorkerConnection(IStoreEngine engine, ChangeOutbox outbox, SharedMemoryOptions options, int workerId, SharedRegion? region, ILogger logger, MasterMetrics? metrics = null)
    {
        this.Id = workerId;
        this.Metrics = metrics ?? MasterMetrics.Unowned;
        this.engine = engine;
        this.outbox = outbox;
        this.options = options;
        this.offeredRegion = region;
        this.logger = logger;
    }

    /// <summary>Gets the master's instruments.</summary>
    internal MasterMetrics Metrics { get; }

    /// <summary>Gets where the connection's requests leave their <c>traceparent</c> for the operation they dispatch to; <see cref="OperationTable.Register"/> installs it.</summary>
    internal TraceContextStrategy TraceContext { get; } = new();

    /// <summary>Gets the engine the connection's operations run on.</summary>
    internal IStoreEngine Engine => this.engine;

    /// <summary>Gets a task that completes with the worker's process id when it has said hello.</summary>
    public Task<int> Hello => this.hello.Task;

    /// <summary>
    /// Gets or sets a test hook, run with the method and the key or lock name before a call that gives the connection
    /// something to own, on the reader's thread and outside every lock: a test holds the reader back with it.
    /// </summary>
    internal Action<string, string>? BeforeOwningCall { get; set; }

    /// <summary>Answers <c>hello</c>, the first request of every connection, and only once.</summary>
    /// <param name="protocolVersion">The protocol version the worker speaks.</param>
    /// <param name="processId">The worker's process id.</param>
    /// <param name="sharedRegion">True when the worker has mapped the shared region it was given.</param>
    public HelloResult OnHello(int protocolVersion, int processId, bool sharedRegion = false)
    {
        if (this.greeted)
        {
            throw new ProtocolOrderException($"Worker {this.Id} said hello twice; hello is answered once, as the first request.");
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
            WorkerId = this.Id,
            MaxKeyLength = this.options.MaxKeyLength,
            MaxValueBytes = this.options.MaxValueBytes,
            Features = this.region is null ? [RpcMethods.BatchFeature, RpcMethods.MessagesFeature, RpcMethods.TraceContextFeature] : [RpcMethods.BatchFeature, RpcMethods.MessagesFeature, RpcMethods.TraceContextFeature, RpcMethods.SharedRegionFeature],
        };
    }

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public async ValueTask SendAsync<T>(T message, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // As the master's store serializes values.
        await this.SendJsonOrClosedAsync(MessageJson.Serialize(message, this.options.JsonSerializerOptions, this.options.MaxValueBytes), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask SendAsync<T>(T message, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        cancellationToken.ThrowIfCancellationRequested();
        await this.SendJsonOrClosedAsync(MessageJson.Serialize(message, jsonTypeInfo, this.options.MaxValueBytes), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Queues a message's JSON, or says that this worker's connection is closed.</summary>
    private async ValueTask SendJsonOrClosedAsync(byte[] json, CancellationToken cancellationToken)
    {
        try
        {
            await this.SendJsonAsync(json, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException ex)
        {
            throw new ObjectDisposedException($"The connection of worker {this.Id} is closed: its process has exited, its pipe has ended or its master is disposed; the message was not sent.", ex);
        }
    }

    /// <summary>
    /// Queues a message already checked (a broadcast serializes it once for every worker) after every change committed
    /// before now that goes to this worker, and after the messages sent before it.
    /// </summary>
    internal ValueTask SendJsonAsync(byte[] json, CancellationToken cancellationToken) =>
        this.SendJsonAsync(json, this.engine.CatchUpPointAsync(cancellationToken), cancellationToken);

    /// <summary>
    /// Queues a message already checked after every change up to <paramref name="point"/> (a broadcast reads it once
    /// for every worker: <see cref="IStoreEngine.CatchUpPointAsync"/>), and after the messages sent before it; not at
    /// all when reading the point fails.
    /// </summary>
    internal ValueTask SendJsonAsync(byte[] json, ValueTask<long> point, CancellationToken cancellationToken) =>
        this.SendJsonAsync(json, this.CatchUpAsync(point, cancellationToken), cancellationToken);

    /// <summary>
    /// Queues a message already checked once <paramref name="caughtUp"/> has completed, after the messages sent before
    /// it; not at all when that fails or the token is canceled first.
    /// </summary>
    internal ValueTask SendJsonAsync(byte[] json, Task caughtUp, CancellationToken cancellationToken) =>
        new(this.messageTurns.SendAsync(caughtUp, () => this.outbox.EnqueueMessageAsync(json, cancellationToken).AsTask(), cancellationToken));

    /// <summary>The engine's catch-up on this connection's outbox, up to <paramref name="point"/>; completed when nothing waits.</summary>
    private Task CatchUpAsync(ValueTask<long> point, CancellationToken cancellationToken)
    {
        if (!point.IsCompletedSuccessfully)
        {
            return CatchUpLaterAsync(point.AsTask());
        }

#pragma warning disable VSTHRD103 // Completed: Result does not block.
        var caughtUp = this.engine.CaughtUpAsync(point.Result, this.outbox, cancellationToken);
#pragma warning restore VSTHRD103
        return caughtUp.IsCompletedSuccessfully ? Task.CompletedTask : caughtUp.AsTask();

        async Task CatchUpLaterAsync(Task<long> reading) =>
            await this.engine.CaughtUpAsync(await reading.ConfigureAwait(false), this.outbox, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes a <c>message</c> notification, on the reader's path: it goes to the master's observers, and while one of
    /// them is behind, this connection's next message is not read (<see cref="ReadHold"/>): the worker's calls wait with
    /// it, and no other worker's do. One the master would refuse as a value is not delivered, and logged.
    /// </summary>
    /// <param name="message">The message's JSON.</param>
    public void OnMessage(JsonElement message)
    {
        if (!this.greeted)
        {
            this.RefuseMessage("it came before hello");
            return;
        }

        var json = RawJson.CopyOf(message);
        if (MessageJson.Check(json, this.options.MaxValueBytes) is { } refused)
        {
            this.RefuseMessage(refused.Message);
            return;
        }

        if (InputRules.LoneSurrogateIn(json) is { } notText)
        {
            this.RefuseMessage($"it is not valid UTF-16 text, and no .NET observer could read it: {notText}");
            return;
        }

        var publishing = this.messages?.PublishAsync(new WorkerMessage(this.Id, json, this.options.JsonSerializerOptions)) ?? default;
        if (!publishing.IsCompleted)
        {
            this.readHold.Until(publishing.AsTask());
        }
    }

    /// <summary>
    /// Logs a refused message: the 1st, 2nd, 4th, 8th… of this connection, so that a worker sending refused messages
    /// without end grows the log with the logarithm of their number (a notification has no answer to carry the error).
    /// </summary>
    private void RefuseMessage(string reason)
    {
        long refused = Interlocked.Increment(ref this.messagesRefused);
        if ((refused & (refused - 1)) == 0)
        {
            this.logger.WorkerMessageRefused(this.Id, refused, reason);
        }
    }

    public async Task<long> LockAsync(string name, double timeoutMs, CancellationToken cancellationToken)
    {
        this.Greeted();
        InputRules.ThrowIfBadLockName(name, this.options.MaxKeyLength);

        if (!(timeoutMs >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(timeoutMs), timeoutMs, "A lock timeout must be zero or more milliseconds.");
        }

        // Past what a TimeSpan holds (about 29,000 years) is as long as there is: the wait has no end, as a time to live does.
        var timeout = ProtocolLimits.Duration(timeoutMs);

        // A waiting request holds memory until granted or timed out, as a held lock does until it is released, and the
        // master reads on meanwhile: both bounded. A request counts against the held locks from its start, so that
        // requests under way together cannot pass that bound.
        lock (this.heldLocks)
        {
            int holding = this.heldLocks.Count + this.lockRequests + 1;
            if (holding > this.options.MaxHeldLocksPerConnection)
            {
                throw new SharedMemoryLimitExceededException(name, nameof(SharedMemoryOptions.MaxHeldLocksPerConnection), this.options.MaxHeldLocksPerConnection, holding);
            }

            int requests = this.lockRequests + 1;
            if (requests > this.options.MaxWaitingLocksPerConnection)
            {
                throw new SharedMemoryLimitExceededException(name, nameof(SharedMemoryOptions.MaxWaitingLocksPerConnection), this.options.MaxWaitingLocksPerConnection, requests);
            }

            this.lockRequests = requests;
        }

        try
        {
            this.BeforeOwningCall?.Invoke(RpcMethods.Lock, name);
            Task<long> acquiring;
            lock (this.releaseGate)
            {
                // The engine queues the wait before it returns (IStoreEngine.LockAsync), so a release that follows
                // ends it; only the wait itself is outside the gate.
                this.ThrowIfReleased();
                acquiring = this.engine.LockAsync(name, this.Id, timeout, cancellationToken);
            }

            long token = await acquiring.ConfigureAwait(false);
            lock (this.heldLocks)
            {
                this.heldLocks[token] = name;
            }

            return token;
        }
        finally
        {
            lock (this.heldLocks)
            {
                this.lockRequests--;
            }
        }
    }

    /// <summary>Releases a lock this worker holds with <paramref name="token"/>; false when the token holds none.</summary>
    public async ValueTask<bool> UnlockAsync(string name, long token)
    {
        bool ran = true;
        try
        {
            return await this.Engine.UnlockAsync(name, token, this.Id, CancellationToken.None).ConfigureAwait(false);
        }
        catch (CallNotRunException)
        {
            ran = false; // in a batch, not run: the worker sends it again
            throw;
        }
        finally
        {
            // Failed too: a remote engine then releases it once it can (IStoreEngine.UnlockAsync), and the worker
            // cannot release it again. Only under its own name: another name's unlock released nothing, and must not
            // make room.
            lock (this.heldLocks)
            {
                if (ran && this.heldLocks.TryGetValue(token, out var heldName) && heldName == name)
                {
                    this.heldLocks.Remove(token);
                }
            }
        }
    }

    /// <summary>
    /// Runs many data operations of one message in order, each as its own request would run: one failing does not
    /// stop the others. The result has one <c>{"result": …}</c> or <c>{"error": …}</c> object per call. Once the
    /// answer holds more than <see cref="ProtocolLimits.MinAnswerBudget"/> bytes (or <see cref="SharedMemoryOptions.MaxValueBytes"/>,
    /// if larger), the calls left are not run and are answered <see cref="RpcErrorCodes.NotRun"/>, for the worker to
    /// send again: an answer holds at most that plus one value, whatever the gets of the batch find. The calls not run
    /// are always the batch's tail (an engine that answers later bounds its gets' reads the same way, or has the gets
    /// before its last write answered in full).
    /// </summary>
    /// <param name="calls">The calls.</param>
    /// <param name="traceparents">Optional: for each call, the W3C <c>traceparent</c> of its caller, or null; anything else is ignored.</param>
    public async ValueTask<RawJson> BatchAsync(BatchRequest calls, JsonElement? traceparents = null)
    {
        this.Greeted();
        var array = calls.Calls;
        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new ArgumentException("A batch is an array of calls.", nameof(calls));
        }

        int count = array.GetArrayLength();
        var buffer = new ArrayBufferWriter<byte>(256 + (count * 32));
        var results = new RegionResults(this.region, this.Metrics);
        long budget = ProtocolLimits.AnswerBudget(this.options.MaxValueBytes);

        // Calls an engine answers later (a remote one): from the first on, every call of the batch is sent at once, in
        // order, and answered in order after; they are not awaited one by one. Past MaxCallsSentAtOnce of them, the
        // rest are not sent: a tail answered "not run".
        List<(ValueTask<object?> Running, string Method, bool IsGet)>? later = null;
        int notSent = 0;
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            bool full = false;
            int index = -1;

            // A remote engine sends the calls started here together, as one, once they all are (IStoreEngine.BeginBatch),
            // and runs none after its gets have read the answer's budget.
            var sending = this.engine.BeginBatch(budget);
            try
            {
                foreach (var call in array.EnumerateArray())
                {
                    index++;
                    full = full || writer.BytesCommitted + writer.BytesPending > budget;
                    if (full && later is null)
                    {
                        BatchAnswer.WriteNotRun(writer);
                        continue;
                    }

                    if (later?.Count >= ProtocolLimits.MaxCallsSentAtOnce)
                    {
                        notSent++;
                        continue;
                    }

                    // A call that is not [method, arguments...] fails alone, as any other call of the batch would.
                    string method = "";
                    ValueTask<object?> running;
                    try
                    {
                        var arguments = new BatchArguments(call);
                        method = arguments.Method;

                        // Reads its arguments before its first wait: the request's JSON lives only while this loop runs.
                        running = OperationTable.RunBatchedAsync(this, arguments, BatchRequest.TraceParentAt(traceparents, index));
                    }
                    catch (Exception ex)
                    {
                        running = ValueTask.FromException<object?>(ex);
                    }

                    if (later is null && running.IsCompleted)
                    {
                        await this.WriteOutcomeAsync(writer, running, method, results).ConfigureAwait(false);
                        continue;
                    }

                    (later ??= []).Add((running, method, method == RpcMethods.Get));
                }
            }
            finally
            {
                // Sent even if this loop failed: every call started waits for it, and the connection's release for them.
                sending?.Dispose();
            }

            // Past the budget, a get's value is dropped and it is answered "not run", to be sent again, but only after
            // the batch's last write: the calls not run must be its tail, since a worker sends every call from the first
            // not run on again, and a write that ran, sent again, would apply twice. A write's (small) result is always
            // given. What the engine did not run (its gets read its budget) is such a tail too, and so is every call
            // after a call not run: none after it ran, or had an effect (one refused before it reached the engine).
            int lastWrite = later?.FindLastIndex(static call => !call.IsGet) ?? -1;
            bool notRunFromHere = false;
            for (int i = 0; i < (later?.Count ?? 0); i++)
            {
                var (running, method, isGet) = later![i];
                full = full || writer.BytesCommitted + writer.BytesPending > budget;
                if (notRunFromHere || (full && isGet && i > lastWrite))
                {
                    await EndedAsync(running).ConfigureAwait(false);
                    BatchAnswer.WriteNotRun(writer);
                    notRunFromHere = true;
                }
                else
                {
                    notRunFromHere = await this.WriteOutcomeAsync(writer, running, method, results).ConfigureAwait(false);
                }
            }

            for (int i = 0; i < notSent; i++)
            {
                BatchAnswer.WriteNotRun(writer);
            }

            writer.WriteEndArray();
        }

        this.Metrics.BatchCalls.Record(count);
        return new RawJson(buffer.WrittenSpan.ToArray());
    }

    public ValueTask<long> SubscribeAsync(long subscription, string key, bool prefix = false, long? fromVersion = null)
    {
        this.Greeted();
        var registration = new StoreSubscription(subscription, key ?? throw new ArgumentNullException(nameof(key)), prefix, this.outbox);
        this.BeforeOwningCall?.Invoke(RpcMethods.Subscribe, key);
        return this.PastGateAsync((target: this, registration, fromVersion), static (engine, s, _) => s.target.RegisterAsync(engine, s.registration, s.fromVersion));
    }

    public bool Unsubscribe(long subscription)
    {
        this.Greeted();
        if (this.subscriptions.TryRemove(subscription, out var registration))
        {
            this.engine.Unsubscribe(registration);
            return true;
        }

        return false;
    }

    /// <summary>
    /// Releases every lock, lock wait, ephemeral key and subscription of the connection; from now on the calls that
    /// would give it one are refused, even those already read from the pipe. An engine out of reach (Redis restarting)
    /// is asked again until it answers, or until the master stops (<see cref="StopAsync"/>): what the worker held is
    /// never left held for the master's life.
    /// </summary>
    public async Task ReleaseAllAsync()
    {
        Task landing;
        lock (this.releaseGate)
        {
            this.released = true;
            landing = this.landing == 0 ? Task.CompletedTask : (this.landed = new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }

        // A lock wait that passed the gate lands when the release below ends it: it is not waited for here.
        await landing.ConfigureAwait(false);

        // Its subscriptions first: they are the master's alone, and a release that waits for Redis must not keep them.
        foreach (var id in this.subscriptions.Keys)
        {
            if (this.subscriptions.TryRemove(id, out var registration))
            {
                this.engine.Unsubscribe(registration);
            }
        }

        this.logger.WorkerSubscriptionsReleased(this.Id);

        // Its locks go with the release below: what counted them is not kept for an IWorker someone still holds.
        lock (this.heldLocks)
        {
            this.heldLocks.Clear();
        }

        // What the worker held goes with it: its locks pass to the next waiter, its ephemeral keys are deleted. A worker
        // gone before hello holds nothing (every call that gives it something to hold needs hello first).
        if (this.greeted)
        {
            await this.ReleaseOwnerAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Holds the next read of the worker's pipe until <paramref name="operation"/> has run.</summary>
    internal void HoldReadsUntil(Task operation) => this.readHold.Until(operation);

    /// <summary>
    /// Releases what the worker held, asking again while the engine is out of reach, until the master stops: then a
    /// store kept elsewhere frees it when the master leaves, or the other masters when its lease runs out.
    /// </summary>
    private async Task ReleaseOwnerAsync()
    {
        var wait = TimeSpan.FromMilliseconds(100);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                // A release asked again finds what the one before released gone: it is safe to repeat.
                await this.engine.ReleaseOwnerAsync(this.Id, this.stopping.Token).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is SharedMemoryUnavailableException or OperationCanceledException)
            {
                if (this.stopping.IsCancellationRequested)
                {
                    this.logger.WorkerReleaseLeftToStore(this.Id);
                    return;
                }

                // Once at Warning, then at Debug: an outage of minutes must not flood the log.
                this.logger.WorkerReleaseRetrying(attempt == 1 ? LogLevel.Warning : LogLevel.Debug, ex, this.Id, wait);
                await Task.Delay(wait, this.stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, MaxReleaseWait.Ticks));
            }
        }
    }

    /// <summary>Refuses a request before <c>hello</c>: until then the master does not know the worker speaks its protocol version.</summary>
    /// <returns>This connection, for a call to go on with.</returns>
    internal WorkerConnection Greeted() =>
        this.greeted ? this : throw new ProtocolOrderException($"Worker {this.Id} sent a request before hello; hello must be the first request.");

    /// <summary>
    /// Runs an engine operation of this connection past the gate that <see cref="ReleaseAllAsync"/> closes: a write
    /// the master read before the worker's death and runs after its release is refused, as the README promises, and a
    /// call that gives the connection something to own lands before the release takes it back.
    /// </summary>
    /// <typeparam name="TState">What the operation needs.</typeparam>
    /// <typeparam name="TResult">Its result.</typeparam>
    /// <param name="state">What <paramref name="run"/> needs.</param>
    /// <param name="run">The operation, given the engine, the state and this connection's owner id.</param>
    /// <returns>The operation's result.</returns>
    internal ValueTask<TResult> PastGateAsync<TState, TResult>(TState state, Func<IStoreEngine, TState, long, ValueTask<TResult>> run)
    {
        lock (this.releaseGate)
        {
            this.ThrowIfReleased();
            this.landing++;
        }

        ValueTask<TResult> running;
        try
        {
            running = run(this.engine, state, this.Id);
        }
        catch
        {
            this.Land();
            throw;
        }

        if (running.IsCompleted)
        {
            this.Land();
            return running;
        }

        return this.LandAfterAsync(running);
    }

    /// <summary>Runs <see cref="PastGateAsync"/> for a call that gives the connection something to own, after the test hook.</summary>
    internal ValueTask<TResult> AsOwnerAsync<TState, TResult>(string method, string key, TState state, Func<IStoreEngine, TState, long, ValueTask<TResult>> run)
    {
        this.BeforeOwningCall?.Invoke(method, key);
        return this.PastGateAsync(state, run);
    }

    private async ValueTask<TResult> LandAfterAsync<TResult>(ValueTask<TResult> running)
    {
        try
        {
            return await running.ConfigureAwait(false);
        }
        finally
        {
            this.Land();
        }
    }

    private void Land()
    {
        lock (this.releaseGate)
        {
            if (--this.landing == 0)
            {
                this.landed?.TrySetResult();
            }
        }
    }

    /// <summary>Registers a subscription of this connection, within its limit; past the gate.</summary>
    private async ValueTask<long> RegisterAsync(IStoreEngine engine, StoreSubscription registration, long? fromVersion)
    {
        long id = registration.Id;
        if (this.subscriptions.Count >= this.options.MaxSubscriptionsPerConnection && !this.subscriptions.ContainsKey(id))
        {
            throw new SharedMemoryLimitExceededException(registration.KeyOrPrefix, nameof(SharedMemoryOptions.MaxSubscriptionsPerConnection), this.options.MaxSubscriptionsPerConnection, this.subscriptions.Count + 1L);
        }

        if (!this.subscriptions.TryAdd(id, registration))
        {
            throw new ArgumentException($"Subscription {id} already exists on this connection.", "subscription");
        }

        try
        {
            return await engine.SubscribeAsync(registration, fromVersion, CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            this.subscriptions.TryRemove(id, out _);
            throw;
        }
    }

    /// <summary>Waits for a call whose outcome is not given, so that it is observed.</summary>
    private static async Task EndedAsync(ValueTask<object?> running)
    {
        try
        {
            await running.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Answered "not run": its failure, like its value, is not given.
        }
    }

    /// <summary>Writes one batched call's outcome, its result or its error: one call's failure is its own, and the others go on.</summary>
    /// <returns>True when the engine did not run the call (<see cref="CallNotRunException"/>), which is answered "not run".</returns>
    private async Task<bool> WriteOutcomeAsync(Utf8JsonWriter writer, ValueTask<object?> running, string method, RegionResults results)
    {
        object? result;
        try
        {
            result = await running.ConfigureAwait(false);
        }
        catch (CallNotRunException)
        {
            BatchAnswer.WriteNotRun(writer);
            return true;
        }
        catch (Exception ex)
        {
            var error = RpcErrors.ToErrorDetail(ex, method);
            if (RpcErrors.IsInternal(error))
            {
                this.logger.RequestFailed(ex, method, this.Id);
            }

            BatchAnswer.WriteError(writer, error);
            return false;
        }

        WriteResult(writer, result, results);
        return false;
    }

    /// <summary>Writes one batched call's result: a large value goes through the shared region when it is free.</summary>
    private static void WriteResult(Utf8JsonWriter writer, object? result, RegionResults regionResults)
    {
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

    /// <summary>Refuses a write, or a call that would give a released connection something to own; under <see cref="releaseGate"/>.</summary>
    private void ThrowIfReleased()
    {
        if (this.released)
        {
            throw new ObjectDisposedException($"worker {this.Id}", $"The connection of worker {this.Id} is closed: its process has exited or its pipe has ended.");
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

        this.Metrics.SharedRegionBytes.Add(value.Length, SharedMemoryMetrics.ToMaster);
        return value;
    }

    /// <summary>Where the one JSON value of <paramref name="json"/> lies, whitespace aside; null when it is not exactly one value.</summary>
    private static Range? OneJsonValue(byte[] json)
    {
        try
        {
            // No depth limit here: a value nested too deep is refused by MaxValueDepth's rule (-32010, naming the
            // limit), as an inline value is, not taken for one that is not JSON.
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = int.MaxValue });
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
    private sealed class RegionResults(SharedRegion? region, MasterMetrics metrics)
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
            metrics.SharedRegionBytes.Add(value.Length, SharedMemoryMetrics.ToWorker);
            return offset;
        }
    }
}
