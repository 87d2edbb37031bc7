using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Logging;
using Rx.SharedMemory.Messaging;
using Rx.SharedMemory.Mirror;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Serialization;
using Rx.SharedMemory.Transport;
using Rx.SharedMemory.Worker;
using StreamJsonRpc;

namespace Rx.SharedMemory;

/// <summary>
/// A worker's connection to its master: the shared store as a typed JSON-RPC client over the pipes the master gave
/// this process.
/// </summary>
/// <remarks>
/// When the master goes away, pending and later calls throw <see cref="SharedMemoryDisconnectedException"/> and every
/// observable ends with it. Disposing closes the pipes and completes every observable; after that, calls throw
/// <see cref="ObjectDisposedException"/>, and a new subscription ends with it (<c>OnError</c>) at once.
/// </remarks>
public sealed class SharedMemoryWorker : ISharedStore, IAsyncDisposable, IOwnWriteSource, IValueOptionsSource
{
    // 1 once a ConnectAsync of this process has taken its pipes to the master, for good: a worker connects once.
    private static int pipesTaken;

    private readonly JsonRpc rpc;

    // How the connection writes and reads its messages (set once by the constructor).
    private readonly JsonSerializerOptions protocolOptions;

    // How the typed methods without a JsonTypeInfo write and read values: the user's options, read-only, or null for
    // System.Text.Json's defaults (set once by the constructor).
    private readonly JsonSerializerOptions? valueOptions;
    private SharedRegion? region;
    private readonly ILogger logger;
    private readonly ConcurrentDictionary<long, RemoteSubscription> subscriptions = new();
    private readonly ChangeInbox inbox;
    private readonly TaskCompletionSource completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long nextSubscriptionId;
    private volatile Exception? connectionLost;
    private int disposed;
    private CallBatcher? batcher;
    private int maxValueBytes = int.MaxValue;

    // The master's MaxKeyLength, from hello: a longer key or prefix is refused here, as the master would, instead of
    // travelling in a frame that can exceed what the master reads (and cost the connection).
    private int maxKeyLength = int.MaxValue;

    // A call carries its caller's traceparent (a request of its own, or its entry of a batch's traceparents) once the
    // master's hello lists the traceContext feature: a master that does not list it never gets one.
    private readonly TraceContextStrategy traceContext = new();

    // The master's messages, to this worker's observers; the hold stops reading the pipe while one of them is behind,
    // until the master's end of the pipe closes (its end of file is behind the held message).
    private readonly MessageHub<MasterMessage> messages;
    private readonly ReadHold messageHold;
    private bool messagesOffered; // set by ConnectAsync from hello, before the worker is handed out

    // A message goes after the calls made before it: while some wait for their answer, it waits too, and the messages
    // after it wait for it.
    private readonly MessageTurns messageTurns = new();

    private SharedMemoryWorker(Stream fromMaster, Stream toMaster, SharedRegion? region, SharedMemoryWorkerOptions options, ILogger logger)
    {
        this.logger = logger;
        this.inbox = new ChangeInbox(options.SubscriberQueueCapacity, options.SubscriberQueueMaxBytes, this.Unsubscribe, logger);
        this.region = region;
        this.messageHold = new ReadHold(PipeHangUp.For(fromMaster));
        // Observers are user code that may block, even on a call to the master whose answer this same reader thread
        // must read: notifications run one at a time, in order, on the thread pool.
        this.rpc = RpcChannel.Create(fromMaster, toMaster, "Rx.SharedMemory master reader", new Microsoft.VisualStudio.Threading.NonConcurrentSynchronizationContext(sticky: false), out this.protocolOptions, hold: this.messageHold);
        // Values are the user's, not the protocol's: by default (null) System.Text.Json's own options, as a master's store.
        this.valueOptions = options.JsonSerializerOptions;
        this.messages = new MessageHub<MasterMessage>(options.SubscriberQueueCapacity, options.SubscriberQueueMaxBytes, static m => m.Json.Length, logger);
        this.rpc.ActivityTracingStrategy = this.traceContext;
        // Delegates, not a target object: StreamJsonRpc binds them without reflecting over a type (trimming, Native AOT).
        this.rpc.AddLocalRpcMethod(RpcMethods.Changes, (ChangeBatch changes) => this.OnChanges(changes));
        this.rpc.AddLocalRpcMethod(RpcMethods.Message, (JsonElement message) => this.OnMessage(message));
        this.rpc.Disconnected += this.OnDisconnected;
        RpcChannel.ObserveCompletion(this.rpc, this.logger);
        RpcChannel.StartListening(this.rpc);
    }

    /// <summary>
    /// Gets a value indicating whether this process was started by a <see cref="SharedMemoryMaster"/> as its worker:
    /// true before it connects (the master passed it its pipes), and still true once it has connected, or is
    /// connecting, and after that connection has ended. False in a process the worker starts, even before it connects:
    /// the library takes the pipes' variables out of the environment, and on Linux and macOS keeps their descriptors
    /// from child processes, the first time any of its code runs.
    /// </summary>
    public static bool IsWorkerProcess => Volatile.Read(ref pipesTaken) != 0 || WorkerEndPipes.Available;

    /// <summary>Gets the id the master gave this worker.</summary>
    public int WorkerId { get; private set; }

    /// <summary>Gets a task that completes when the connection to the master ends, for any reason.</summary>
    public Task Completion => this.completion.Task;

    /// <inheritdoc/>
    OwnWrites IOwnWriteSource.OwnWrites { get; } = new();

    /// <inheritdoc/>
    JsonSerializerOptions? IValueOptionsSource.ValueOptions => this.valueOptions;

    /// <summary>Connects to the master that started this process, through the pipes it passed in the environment.</summary>
    /// <param name="cancellationToken">A token that cancels the handshake.</param>
    /// <returns>The connected worker.</returns>
    /// <exception cref="InvalidOperationException">This process was not started by a master, or has connected already (or is connecting): a worker process connects once.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The master closed the connection during the handshake.</exception>
    public static Task<SharedMemoryWorker> ConnectAsync(CancellationToken cancellationToken = default) =>
        ConnectAsync(loggerFactory: null, cancellationToken);

    /// <summary>Connects to the master that started this process, through the pipes it passed in the environment.</summary>
    /// <param name="loggerFactory">Where the worker logs; <see langword="null"/> for none. It must not write to standard output if the master reads it.</param>
    /// <param name="cancellationToken">A token that cancels the handshake.</param>
    /// <returns>The connected worker.</returns>
    /// <exception cref="InvalidOperationException">This process was not started by a master, or has connected already (or is connecting): a worker process connects once.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The master closed the connection during the handshake.</exception>
    public static Task<SharedMemoryWorker> ConnectAsync(ILoggerFactory? loggerFactory, CancellationToken cancellationToken = default) =>
        ConnectAsync(options: null, loggerFactory, cancellationToken);

    /// <summary>Connects to the master that started this process, through the pipes it passed in the environment.</summary>
    /// <param name="options">The worker's settings; <see langword="null"/> for the defaults. They are copied and checked here.</param>
    /// <param name="loggerFactory">Where the worker logs; <see langword="null"/> for none. It must not write to standard output if the master reads it.</param>
    /// <param name="cancellationToken">A token that cancels the handshake.</param>
    /// <returns>The connected worker.</returns>
    /// <exception cref="ArgumentException">A setting is invalid (out of range, or <see cref="SharedMemoryWorkerOptions.JsonSerializerOptions"/> that this application cannot use); the message names it.</exception>
    /// <exception cref="InvalidOperationException">This process was not started by a master, or has connected already (or is connecting): a worker process connects once.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The master closed the connection during the handshake.</exception>
    public static Task<SharedMemoryWorker> ConnectAsync(SharedMemoryWorkerOptions? options, ILoggerFactory? loggerFactory, CancellationToken cancellationToken = default)
    {
        try
        {
            options = (options ?? new SharedMemoryWorkerOptions()).CheckedCopy();
            if (cancellationToken.IsCancellationRequested)
            {
                // Before the pipes are taken: a connect cancelled from the start leaves them for the next one.
                return Task.FromCanceled<SharedMemoryWorker>(cancellationToken);
            }

            var (fromMaster, toMaster, region) = TakePipes();
            return ConnectAsync(fromMaster, toMaster, region, options, loggerFactory, cancellationToken);
        }
        catch (Exception ex)
        {
            // Through the task, as every failure of an async method.
            return Task.FromException<SharedMemoryWorker>(ex);
        }
    }

    /// <summary>Opens this process's pipes to its master, once in the process's life.</summary>
    /// <exception cref="InvalidOperationException">This process was not started by a master, or has taken its pipes already.</exception>
    private static (Stream FromMaster, Stream ToMaster, SharedRegion? Region) TakePipes()
    {
        if (Interlocked.CompareExchange(ref pipesTaken, 1, 0) != 0)
        {
            throw new InvalidOperationException(
                "This process has already connected to its master, or is connecting: its pipes to the master were taken by an earlier ConnectAsync (one cancelled or failed once under way took them too), and a worker connects once. Share the SharedMemoryWorker that ConnectAsync returned.");
        }

        if (!WorkerEndPipes.Available)
        {
            // Not a worker: nothing is taken, and Open says why.
            Volatile.Write(ref pipesTaken, 0);
        }

        return WorkerEndPipes.Open();
    }

    /// <summary>Connects over any pair of streams, such as an in-process pipe to a master in tests.</summary>
    internal static Task<SharedMemoryWorker> ConnectAsync(Stream fromMaster, Stream toMaster, ILoggerFactory? loggerFactory, CancellationToken cancellationToken, SharedMemoryWorkerOptions? options = null) =>
        ConnectAsync(fromMaster, toMaster, region: null, options ?? new SharedMemoryWorkerOptions(), loggerFactory, cancellationToken);

    private static async Task<SharedMemoryWorker> ConnectAsync(Stream fromMaster, Stream toMaster, SharedRegion? region, SharedMemoryWorkerOptions options, ILoggerFactory? loggerFactory, CancellationToken cancellationToken)
    {
        var worker = new SharedMemoryWorker(fromMaster, toMaster, region, options, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Rx.SharedMemory.Worker"));
        try
        {
            // The third argument only when there is a region to announce: a master without the feature takes two.
            object?[] arguments = region is null ? [RpcMethods.ProtocolVersion, Environment.ProcessId] : [RpcMethods.ProtocolVersion, Environment.ProcessId, true];
            // A cancelled request waits for the master's answer to its cancellation; a master that answers nothing would
            // hold the handshake for good. Cancelled here instead, and the catch below closes the connection.
            var helloCall = worker.InvokeAsync<HelloResult>(RpcMethods.Hello, arguments, cancellationToken).AsTask();
            _ = helloCall.ContinueWith(static call => call.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            var hello = await helloCall.WaitAsync(cancellationToken).ConfigureAwait(false);
            worker.WorkerId = hello.WorkerId;
            worker.maxValueBytes = hello.MaxValueBytes;
            worker.maxKeyLength = hello.MaxKeyLength > 0 ? hello.MaxKeyLength : int.MaxValue;
            worker.messagesOffered = hello.Features?.Contains(RpcMethods.MessagesFeature) == true;
            bool batches = hello.Features?.Contains(RpcMethods.BatchFeature) == true;
            worker.traceContext.SendsTraceParent = hello.Features?.Contains(RpcMethods.TraceContextFeature) == true;
            if (!batches || hello.Features?.Contains(RpcMethods.SharedRegionFeature) != true)
            {
                // The master will not use it: unmapped at once.
                worker.region?.Dispose();
                worker.region = null;
            }

            if (batches)
            {
                worker.batcher = new CallBatcher(worker.SendBatchAsync, worker.protocolOptions, Math.Min(ProtocolLimits.MaxBatchBytes, hello.MaxValueBytes), worker.region);
            }

            return worker;
        }
        catch
        {
            await worker.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public async ValueTask<T?> GetAsync<T>(string key, CancellationToken cancellationToken = default)
    {
        var entry = await this.GetEntryAsync<T>(key, cancellationToken).ConfigureAwait(false);
        return entry is null ? default : entry.Value;
    }

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, CancellationToken cancellationToken = default) =>
        ValueJson.GetEntryAsync<T>(this, this.valueOptions, key, cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<StoreEntry<T>?> GetEntryAsync<T>(string key, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        this.ThrowIfInvalidKey(key);
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        return await this.CallAsync(
            RpcMethods.Get,
            [key],
            CallBytes(key),
            (result, _) => ReadEntry(key, result, jsonTypeInfo),
            cancellationToken,
            readRegionResult: (value, version, _) => new StoreEntry<T>(ReadValue(key, value, jsonTypeInfo)!, version)).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<long> SetAsync<T>(string key, T value, CancellationToken cancellationToken = default) =>
        ValueJson.SetAsync(this, this.valueOptions, key, value, setOptions: null, cancellationToken);

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<long> SetAsync<T>(string key, T value, SetOptions options, CancellationToken cancellationToken = default) =>
        options is null
            ? ValueTask.FromException<long>(new ArgumentNullException(nameof(options)))
            : ValueJson.SetAsync(this, this.valueOptions, key, value, options, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<long> SetAsync<T>(string key, T value, JsonTypeInfo<T> jsonTypeInfo, SetOptions? options = null, CancellationToken cancellationToken = default)
    {
        try
        {
            this.ThrowIfInvalidKey(key);
            ArgumentNullException.ThrowIfNull(jsonTypeInfo);
            options?.Validate();
            return this.SetCoreAsync(key, value, jsonTypeInfo, options, cancellationToken);
        }
        catch (Exception ex)
        {
            // Through the task: calls issued together all run, even when one of them is refused here.
            return ValueErrors.FaultedAsync<long>(ex);
        }
    }

    /// <inheritdoc/>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, SetOptions? options = null, CancellationToken cancellationToken = default) =>
        ValueJson.CompareAndSetAsync(this, this.valueOptions, key, expectedVersion, value, options, cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(string key, long expectedVersion, T value, JsonTypeInfo<T> jsonTypeInfo, SetOptions? options = null, CancellationToken cancellationToken = default)
    {
        this.ThrowIfInvalidKey(key);
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        options?.Validate();
        var json = this.Serialize(key, value, jsonTypeInfo);
        byte[]? written = this.OwnCopy(key, json);
        var call = this.StartOwnWriteAsync(key, written is not null, () => this.CallAsync(
            RpcMethods.CompareAndSet,
            [key, expectedVersion, json, options?.TimeToLive?.TotalMilliseconds, options?.Ephemeral ?? false],
            CallBytes(key, json),
            static (result, _) => result.Deserialize(ProtocolJsonContext.Default.CompareAndSetMessage)!,
            cancellationToken,
            regionAt: BatchPositions.CompareAndSet.RegionOffset));
        var result = await (written is null ? call : this.OwnWrites.ReportAsync(key, call, (own, key, result) => own.CompareAndSet(key, written, result.Succeeded, result.Version))).ConfigureAwait(false);
        return new CompareAndSetResult(result.Succeeded, result.Version);
    }

    /// <inheritdoc/>
    public async ValueTask<StoreEntry<long>> IncrementAsync(string key, long delta = 1, CancellationToken cancellationToken = default)
    {
        this.ThrowIfInvalidKey(key);
        bool mirrored = this.OwnWrites.Begin(key);
        var call = this.StartOwnWriteAsync(key, mirrored, () => this.CallAsync(RpcMethods.Increment, [key, delta], CallBytes(key), static (result, _) => result.Deserialize(ProtocolJsonContext.Default.EntryMessageInt64)!, cancellationToken));
        var result = await (mirrored ? this.OwnWrites.ReportAsync(key, call, static (own, key, result) => own.Set(key, result.Value, result.Version)) : call).ConfigureAwait(false);
        return new StoreEntry<long>(result.Value, result.Version);
    }

    /// <inheritdoc/>
    public async ValueTask<IAsyncDisposable> AcquireLockAsync(string name, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        InputRules.ThrowIfBadLockName(name, this.maxKeyLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        long token = await this.InvokeAsync<long>(RpcMethods.Lock, [name, timeout.TotalMilliseconds], cancellationToken).ConfigureAwait(false);
        return new RemoteLock(this, name, token);
    }

    /// <inheritdoc/>
    public async ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        this.ThrowIfInvalidKey(key);
        bool mirrored = this.OwnWrites.Begin(key);
        var call = this.StartOwnWriteAsync(key, mirrored, () => this.CallAsync(RpcMethods.Delete, [key], CallBytes(key), static (result, _) => result.GetInt64(), cancellationToken));
        return await (mirrored ? this.OwnWrites.ReportAsync(key, call, static (own, key, version) => own.Deleted(key, version)) : call).ConfigureAwait(false) != 0;
    }

    /// <inheritdoc/>
    public IObservable<KeyChange> Observe(string key, long? fromVersion = null)
    {
        this.ThrowIfInvalidKey(key, checkLength: false);
        return this.ObserveCore(key, prefix: false, fromVersion);
    }

    /// <inheritdoc/>
    public IObservable<KeyChange> ObservePrefix(string prefix, long? fromVersion = null)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        InputRules.ThrowIfNotUtf16(prefix, nameof(prefix));
        return this.ObserveCore(prefix, prefix: true, fromVersion);
    }

    /// <summary>
    /// Gets the messages the master sends this worker (<see cref="IWorker.SendAsync{T}(T, CancellationToken)"/>,
    /// <see cref="SharedMemoryMaster.BroadcastAsync{T}(T, CancellationToken)"/>), like Node.js's
    /// <c>process.on('message')</c>: in the order the master sent them, and in order with the changes it sent around
    /// them.
    /// </summary>
    /// <remarks>
    /// Each observer has a queue of its own, of at most <see cref="SharedMemoryWorkerOptions.SubscriberQueueCapacity"/>
    /// messages and <see cref="SharedMemoryWorkerOptions.SubscriberQueueMaxBytes"/> bytes (at least one), and its
    /// <c>OnNext</c> calls come one at a time, on the thread pool. Messages are never conflated or dropped: while an
    /// observer's queue is full, the worker stops reading its pipe (answers and changes included) until the observer
    /// takes the next message, and the master's sends to this worker wait in turn. An observer must therefore not wait
    /// synchronously, inside <c>OnNext</c>, for a call to the master while its queue may be full. A message sent while
    /// nobody observes is not kept. An observer that throws is unsubscribed (the error is logged). The observable
    /// completes when the worker is disposed, and fails with <see cref="SharedMemoryDisconnectedException"/> when the
    /// connection is lost; a subscription after that fails at once.
    /// </remarks>
    public IObservable<MasterMessage> Messages => this.messages;

    /// <summary>
    /// Sends a message to the master, like Node.js's <c>process.send</c>: its observers of
    /// <see cref="SharedMemoryMaster.Messages"/> receive it as JSON, serialized as this worker serializes values, in
    /// the order this worker sent its messages, and after the data operations it called before it have run: while
    /// some wait for their answers, the message waits with them.
    /// </summary>
    /// <typeparam name="T">The message's type.</typeparam>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the wait for the answers of the data operations called before (the
    /// message is then not sent) and for the pipe to take the message; one already canceled sends nothing.</param>
    /// <returns>A task that completes once the message is written to the pipe to the master: while the master does not
    /// read this worker's pipe (its observers of messages are behind), it waits.</returns>
    /// <exception cref="SharedMemoryLimitExceededException">The message's JSON is over the master's
    /// <see cref="SharedMemoryOptions.MaxValueBytes"/> or nested deeper than <see cref="SharedMemoryOptions.MaxValueDepth"/>.</exception>
    /// <exception cref="NotSupportedException">The master does not take messages (an earlier version), or the message cannot be serialized.</exception>
    /// <exception cref="ObjectDisposedException">The worker is disposed.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the
    /// message was written.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public async ValueTask SendAsync<T>(T message, CancellationToken cancellationToken = default)
    {
        this.ThrowIfCannotSend(cancellationToken);
        await this.SendJsonAsync(MessageJson.Serialize(message, this.valueOptions, this.maxValueBytes), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends a message to the master serialized with <paramref name="jsonTypeInfo"/>, such as a source-generated
    /// <see cref="System.Text.Json.Serialization.JsonSerializerContext"/>'s property, in place of this worker's
    /// options: safe under trimming and Native AOT. Otherwise as <see cref="SendAsync{T}(T, CancellationToken)"/>.
    /// </summary>
    /// <typeparam name="T">The message's type.</typeparam>
    /// <param name="message">The message.</param>
    /// <param name="jsonTypeInfo">How to write it.</param>
    /// <param name="cancellationToken">Cancels the wait for the answers of the data operations called before (the
    /// message is then not sent) and for the pipe to take the message; one already canceled sends nothing.</param>
    /// <returns>A task that completes once the message is written to the pipe to the master.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The message's JSON is over the master's
    /// <see cref="SharedMemoryOptions.MaxValueBytes"/> or nested deeper than <see cref="SharedMemoryOptions.MaxValueDepth"/>.</exception>
    /// <exception cref="NotSupportedException">The master does not take messages (an earlier version), or the message cannot be serialized.</exception>
    /// <exception cref="ObjectDisposedException">The worker is disposed.</exception>
    /// <exception cref="SharedMemoryDisconnectedException">The connection to the master is lost.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the
    /// message was written.</exception>
    public async ValueTask SendAsync<T>(T message, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        this.ThrowIfCannotSend(cancellationToken);
        await this.SendJsonAsync(MessageJson.Serialize(message, jsonTypeInfo, this.maxValueBytes), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes the connection to the master and completes every observable. Idempotent.</summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref this.disposed, 1) != 0)
        {
            return;
        }

        this.rpc.Dispose();
        try
        {
            await this.rpc.Completion.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            this.logger.ClosedWithError(ex);
        }

        foreach (var subscription in this.subscriptions.Values)
        {
            subscription.Complete();
        }

        this.subscriptions.Clear();
        this.inbox.Close();
        this.messages.Complete();

        // Unmapped once no call is reading or writing it (each access holds a reference).
        this.region?.Dispose();
        this.completion.TrySetResult();
    }

    private IObservable<KeyChange> ObserveCore(string keyOrPrefix, bool prefix, long? fromVersion) =>
        Observable.Create<KeyChange>(observer =>
        {
            if (Volatile.Read(ref this.disposed) != 0)
            {
                // As every other call of a disposed worker fails: through the observer, as a lost connection does.
                observer.OnError(new ObjectDisposedException(this.GetType().FullName));
                return Disposable.Empty;
            }

            if (InputRules.TooLong(keyOrPrefix, this.maxKeyLength) is { } tooLong)
            {
                // Through the observer, as the master's refusal of it would come (and as master.Store refuses it).
                observer.OnError(tooLong);
                return Disposable.Empty;
            }

            var subscription = new RemoteSubscription(Interlocked.Increment(ref this.nextSubscriptionId), observer);

            // Registered before the request goes, so that no change sent right after it is dropped.
            this.subscriptions[subscription.Id] = subscription;
            if (this.connectionLost is { } lost)
            {
                this.subscriptions.TryRemove(subscription.Id, out _);
                subscription.Fail(this.Disconnected(lost));
                return Disposable.Empty;
            }

            _ = this.SubscribeRemoteAsync(subscription, keyOrPrefix, prefix, fromVersion);
            return Disposable.Create(() => this.Unsubscribe(subscription));
        });

    private async Task SubscribeRemoteAsync(RemoteSubscription subscription, string keyOrPrefix, bool prefix, long? fromVersion)
    {
        try
        {
            await this.InvokeAsync<long>(RpcMethods.Subscribe, [subscription.Id, keyOrPrefix, prefix, fromVersion], CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            this.subscriptions.TryRemove(subscription.Id, out _);
            try
            {
                if (Volatile.Read(ref this.disposed) != 0 && ex is SharedMemoryDisconnectedException or ObjectDisposedException)
                {
                    // Its request was cut short by this worker's own disposal: made before it, it completes, as the others do.
                    subscription.Complete();
                }
                else
                {
                    subscription.Fail(ex);
                }
            }
            catch (Exception observerError)
            {
                // The observer threw from OnError (as Subscribe without an error handler does): nothing awaits this
                // task, so the error is logged rather than left to surface as an unobserved task exception.
                this.logger.ObserverOnErrorFailed(observerError, subscription.Id);
            }
        }
    }

    /// <summary>Ends a subscription here, once, and tells the master.</summary>
    private void Unsubscribe(RemoteSubscription subscription)
    {
        if (this.subscriptions.TryRemove(subscription.Id, out _) && subscription.End())
        {
            this.inbox.Remove(subscription.Id);
            _ = this.UnsubscribeRemoteAsync(subscription.Id);
        }
    }

    private async Task UnsubscribeRemoteAsync(long subscriptionId)
    {
        try
        {
            await this.rpc.NotifyAsync(RpcMethods.Unsubscribe, subscriptionId).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The connection is gone, and the master released the subscription with it.
            this.logger.UnsubscribeFailed(ex, subscriptionId);
        }
    }

    private ValueTask<long> SetCoreAsync<T>(string key, T value, JsonTypeInfo<T> jsonTypeInfo, SetOptions? options, CancellationToken cancellationToken)
    {
        var json = this.Serialize(key, value, jsonTypeInfo);
        byte[]? written = this.OwnCopy(key, json);
        object?[] arguments = options is null ? [key, json] : [key, json, options.TimeToLive?.TotalMilliseconds, options.Ephemeral];
        var call = this.StartOwnWriteAsync(key, written is not null, () => this.CallAsync(RpcMethods.Set, arguments, CallBytes(key, json), static (result, _) => result.GetInt64(), cancellationToken, regionAt: BatchPositions.Set.RegionOffset));
        return written is null ? call : this.OwnWrites.ReportAsync(key, call, (own, key, version) => own.Set(key, written, version));
    }

    private OwnWrites OwnWrites => ((IOwnWriteSource)this).OwnWrites;

    /// <summary>Starts a write; one refused before it is sent (a lost connection, a cancelled token) ends its mirrors' note of it.</summary>
    private ValueTask<TResult> StartOwnWriteAsync<TResult>(string key, bool mirrored, Func<ValueTask<TResult>> start)
    {
        try
        {
            return start();
        }
        catch when (mirrored)
        {
            this.OwnWrites.Unchanged(key);
            throw;
        }
    }

    /// <summary>A copy of a value about to be written, when a mirror of this worker holds its key (the pooled bytes go with the call).</summary>
    private byte[]? OwnCopy(string key, PooledJson json) => this.OwnWrites.Begin(key) ? json.Bytes.ToArray() : null;

    /// <summary>Serializes a value as its request would, refusing here, before it travels, one the master would refuse for its size or depth.</summary>
    private PooledJson Serialize<T>(string key, T value, JsonTypeInfo<T> jsonTypeInfo)
    {
        PooledJson json;
        try
        {
            json = PooledJson.Serialize(value, jsonTypeInfo);
        }
        catch (Exception ex) when (ValueErrors.IsSerializerError(ex))
        {
            throw ValueErrors.Unwritable(key, typeof(T), ex);
        }

        try
        {
            long length = json.Length;
            if (length > this.maxValueBytes)
            {
                throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxValueBytes), this.maxValueBytes, length);
            }

            InputRules.ThrowIfTooDeep(key, json.Bytes);
            return json;
        }
        catch
        {
            json.Dispose();
            throw;
        }
    }

    /// <summary>Refuses, before anything travels, a key the master would refuse or could not receive unchanged.</summary>
    /// <param name="key">The key.</param>
    /// <param name="checkLength">Whether a key longer than the master's MaxKeyLength is refused here (a subscription refuses it through its observer).</param>
    private void ThrowIfInvalidKey(string key, bool checkLength = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        InputRules.ThrowIfNotUtf16(key, nameof(key));
        if (checkLength)
        {
            InputRules.ThrowIfTooLong(key, this.maxKeyLength);
        }
    }

    /// <summary>Reads the result of a <c>get</c> (<see cref="EntryMessage{T}"/>), naming the key when its value cannot be read as the caller's type.</summary>
    private static StoreEntry<T>? ReadEntry<T>(string key, JsonElement result, JsonTypeInfo<T> jsonTypeInfo)
    {
        if (result.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (result.ValueKind != JsonValueKind.Object || !result.TryGetProperty("value", out var value) || !result.TryGetProperty("version", out var version) || !version.TryGetInt64(out long at))
        {
            throw new SharedMemoryException($"The master's answer to a get of {SharedMemoryLimitExceededException.DescribeKey(key)} is malformed.");
        }

        try
        {
            return new StoreEntry<T>(value.Deserialize(jsonTypeInfo)!, at);
        }
        catch (Exception ex) when (ValueErrors.IsSerializerError(ex))
        {
            throw ValueErrors.Unreadable(key, typeof(T), ex);
        }
    }

    private static T? ReadValue<T>(string key, ReadOnlySpan<byte> value, JsonTypeInfo<T> jsonTypeInfo)
    {
        try
        {
            return JsonSerializer.Deserialize(value, jsonTypeInfo);
        }
        catch (Exception ex) when (ValueErrors.IsSerializerError(ex))
        {
            throw ValueErrors.Unreadable(key, typeof(T), ex);
        }
    }

    /// <summary>An upper bound of a call's size in a batch (<see cref="ProtocolLimits.BatchCallBytes"/>).</summary>
    private static int CallBytes(string key, PooledJson? value = null) => ProtocolLimits.BatchCallBytes(key.Length, value?.Length ?? 0);

    /// <summary>
    /// Calls a data operation: in the next batch when the master takes batches, else as a request of its own; inside
    /// an activity of its own when someone listens (<see cref="StoreActivities.StartCall"/>).
    /// </summary>
    private ValueTask<T> CallAsync<T>(
        string method,
        object?[] arguments,
        int bytes,
        Func<JsonElement, JsonSerializerOptions, T> readResult,
        CancellationToken cancellationToken,
        int regionAt = 0,
        BatchedCall<T>.RegionResultReader? readRegionResult = null) =>
        StoreActivities.Listening
            ? this.TracedCallAsync(method, arguments, bytes, readResult, cancellationToken, regionAt, readRegionResult)
            : this.CallCoreAsync(method, arguments, bytes, readResult, cancellationToken, regionAt, readRegionResult);

    /// <summary>
    /// A call inside its activity, which is current while the call is queued or sent (so the call carries its
    /// context) and ends with the answer; async, so that the caller's current activity is left as it was. Queued
    /// before its first wait: calls keep their order.
    /// </summary>
    private async ValueTask<T> TracedCallAsync<T>(
        string method,
        object?[] arguments,
        int bytes,
        Func<JsonElement, JsonSerializerOptions, T> readResult,
        CancellationToken cancellationToken,
        int regionAt,
        BatchedCall<T>.RegionResultReader? readRegionResult)
    {
        using var activity = StoreActivities.StartCall(method);
        try
        {
            return await this.CallCoreAsync(method, arguments, bytes, readResult, cancellationToken, regionAt, readRegionResult).ConfigureAwait(false);
        }
        catch (Exception ex) when (StoreActivities.Failed(activity, ex))
        {
            throw;
        }
    }

    private ValueTask<T> CallCoreAsync<T>(
        string method,
        object?[] arguments,
        int bytes,
        Func<JsonElement, JsonSerializerOptions, T> readResult,
        CancellationToken cancellationToken,
        int regionAt,
        BatchedCall<T>.RegionResultReader? readRegionResult)
    {
        this.ThrowIfUnusable();

        if (this.batcher is null)
        {
            return this.InvokeSingleAsync(method, arguments, readResult, cancellationToken);
        }

        if (cancellationToken.IsCancellationRequested)
        {
            PooledJson.ReleaseAll(arguments);
            cancellationToken.ThrowIfCancellationRequested();
        }

        var call = new BatchedCall<T>(method, arguments, bytes, readResult, cancellationToken, regionAt, readRegionResult);
        this.batcher.Enqueue(call);
        return new ValueTask<T>(call.Task);
    }

    /// <summary>A data operation as a request of its own, for a master without batches.</summary>
    private async ValueTask<T> InvokeSingleAsync<T>(string method, object?[] arguments, Func<JsonElement, JsonSerializerOptions, T> readResult, CancellationToken cancellationToken)
    {
        try
        {
            // Read as a batch's result is, with the caller's reader: a value is read with its own contract, not the connection's.
            return readResult(await this.InvokeAsync<JsonElement>(method, arguments, cancellationToken).ConfigureAwait(false), this.protocolOptions);
        }
        finally
        {
            PooledJson.ReleaseAll(arguments);
        }
    }

    private async Task<JsonElement> SendBatchAsync(BatchRequest batch)
    {
        // Each call carries its own caller's context; the batch's request carries none, since it goes from whichever
        // context happened to send it (this method's change of the current activity stays in it).
        Activity.Current = null;
        object?[] arguments = this.traceContext.SendsTraceParent && BatchRequest.TraceParents(batch.Outgoing!) is { } parents ? [batch, parents] : [batch];
        return await this.InvokeAsync<JsonElement>(RpcMethods.Batch, arguments, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// Calls the master with positional arguments: StreamJsonRpc matches them at less cost than named ones (in paired
    /// benchmark runs, 25–70% more operations a second in four runs of five), and the protocol takes both.
    /// </summary>
    private async ValueTask<T> InvokeAsync<T>(string method, object?[] arguments, CancellationToken cancellationToken)
    {
        this.ThrowIfUnusable();

        try
        {
            return await this.rpc.InvokeWithCancellationAsync<T>(method, arguments, cancellationToken).ConfigureAwait(false);
        }
        catch (RemoteRpcException ex) when (ex is RemoteInvocationException or RemoteMethodNotFoundException or RemoteSerializationException)
        {
            // An error answer, whichever type StreamJsonRpc read it as; a lost connection is one of its types too.
            throw RpcErrors.ToException(ex);
        }
        catch (Exception ex) when (ex is ConnectionLostException || (ex is ObjectDisposedException && Volatile.Read(ref this.disposed) == 0))
        {
            await LeaveDisconnection();
            throw this.Disconnected(ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Not the caller's cancellation: the connection ended while the request was being sent.
            await LeaveDisconnection();
            throw this.Disconnected(ex);
        }
    }

    /// <summary>
    /// Moves a call that failed because the connection ended to the thread pool before its caller goes on.
    /// StreamJsonRpc fails the requests still waiting for an answer from inside its handling of the end of the
    /// connection (on the pipe's reader thread when the master goes, in <see cref="DisposeAsync"/> when this worker
    /// closes), and completes them synchronously: without the hop, the caller's continuation runs there, and a caller
    /// that then waits for the worker's disposal, as a host's synchronous Dispose does, waits for the very handling it
    /// is running inside; the connection never completes, and the process never exits.
    /// </summary>
    private static ConfiguredTaskAwaitable LeaveDisconnection() => Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);

    /// <summary>What refuses a message before it is serialized: disposal, a lost connection, a master without messages, a canceled token.</summary>
    private void ThrowIfCannotSend(CancellationToken cancellationToken)
    {
        this.ThrowIfUnusable();
        if (!this.messagesOffered)
        {
            throw new NotSupportedException($"Worker {this.WorkerId}: the master does not take messages (its hello lists no \"{RpcMethods.MessagesFeature}\" feature); it is of an earlier version of Rx.SharedMemory.");
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>
    /// Writes a message's JSON, checked, to the pipe to the master, once the data operations called before it have
    /// their answers (they have run), and after the messages sent before it.
    /// </summary>
    private async Task SendJsonAsync(byte[] json, CancellationToken cancellationToken)
    {
        try
        {
            // A call's failure is its caller's: the wait for the calls never faults.
            var written = this.messageTurns.SendAsync(this.batcher?.WhenEnqueuedSettledAsync() ?? Task.CompletedTask, () => this.WriteMessageAsync(json), cancellationToken);
            try
            {
                await written.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!written.IsCompleted)
            {
                // The write goes on without its caller.
                Detached.ObserveFailure(written);
                throw;
            }
        }
        catch (Exception ex) when (ex is ConnectionLostException || (ex is ObjectDisposedException && Volatile.Read(ref this.disposed) == 0))
        {
            throw this.Disconnected(ex);
        }
    }

    private Task WriteMessageAsync(byte[] json) =>
        this.rpc.NotifyWithParameterObjectAsync(RpcMethods.Message, MessageNotification.Arguments(json), MessageNotification.ArgumentTypes);

    /// <summary>Refuses a call on a disposed worker, or one whose connection is lost, before anything is sent.</summary>
    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref this.disposed) != 0, this);
        if (this.connectionLost is { } lost)
        {
            throw this.Disconnected(lost);
        }
    }

    private SharedMemoryDisconnectedException Disconnected(Exception cause) =>
        new($"Worker {this.WorkerId}: the connection to the shared memory master is lost.", WithoutRpcTypes(cause));

    /// <summary>
    /// The cause of a disconnection as users may see it: StreamJsonRpc's own exception types are how this library
    /// talks, not part of its API, so they are replaced by what they wrap (an I/O error), or left out.
    /// </summary>
    private static Exception? WithoutRpcTypes(Exception? cause)
    {
        while (cause is not null && cause.GetType().Namespace?.StartsWith(nameof(StreamJsonRpc), StringComparison.Ordinal) == true)
        {
            cause = cause.InnerException;
        }

        return cause;
    }

    private void OnDisconnected(object? sender, JsonRpcDisconnectedEventArgs e)
    {
        this.connectionLost ??= e.Exception ?? new IOException($"{e.Reason}: {e.Description}");
        if (Volatile.Read(ref this.disposed) == 0)
        {
            this.logger.MasterConnectionLost(e.Reason, e.Description);
            var error = this.Disconnected(this.connectionLost);
            this.messages.Complete(error);
            var ended = new List<RemoteSubscription>();
            foreach (var id in this.subscriptions.Keys)
            {
                if (this.subscriptions.TryRemove(id, out var subscription))
                {
                    ended.Add(subscription);
                }
            }

            // Observers learn of it after the changes they already have, on the inbox's thread: this one is the
            // connection's, and waiting here for a busy observer would hold up the failing of pending calls.
            this.inbox.CloseAfterDelivering(() =>
            {
                foreach (var subscription in ended)
                {
                    try
                    {
                        subscription.Fail(error);
                    }
                    catch (Exception observerError)
                    {
                        this.logger.ObserverOnErrorFailed(observerError, subscription.Id);
                    }
                }
            });
        }

        this.completion.TrySetResult();
    }

    private void OnMessage(JsonElement message)
    {
        // Notifications run one at a time, in order: a message is queued for every observer before the next is.
        var publishing = this.messages.PublishAsync(new MasterMessage(RawJson.CopyOf(message), this.valueOptions));
        if (!publishing.IsCompleted)
        {
            // An observer is behind: the pipe is read no further until it has taken this message, and the master,
            // whose writes then wait, holds its next messages for this worker (bounded) until then.
            this.messageHold.Until(publishing.AsTask());
        }
    }

    private void OnChanges(ChangeBatch changes)
    {
        foreach (var message in changes.Received ?? [])
        {
            // A change for a subscription disposed here may still be on its way: it is dropped. The others wait, bounded,
            // for their observers, so that the pipe is read on at the master's pace whatever the observers do.
            if (this.subscriptions.TryGetValue(message.Subscription, out var subscription))
            {
                this.inbox.Enqueue(subscription, message.ToKeyChange());
            }
        }
    }

    /// <summary>A lock this worker holds; disposing releases it on the master, once.</summary>
    private sealed class RemoteLock(SharedMemoryWorker owner, string name, long token) : IAsyncDisposable
    {
        private int released;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref this.released, 1) != 0)
            {
                return;
            }

            try
            {
                // Behind the data operations called before it, so that none of them commits after the lock is released.
                await owner.CallAsync(RpcMethods.Unlock, [name, token], CallBytes(name), static (result, _) => result.GetBoolean(), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SharedMemoryDisconnectedException or ObjectDisposedException)
            {
                // The master released every lock of this worker when the connection ended.
            }
        }
    }
}
