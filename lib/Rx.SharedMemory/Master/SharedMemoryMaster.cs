using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Logging;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Messaging;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Store;
using Rx.SharedMemory.Transport;

namespace Rx.SharedMemory;

/// <summary>
/// Owns the shared store, spawns worker processes and serves the store to each of them over a pair of anonymous
/// pipes with JSON-RPC.
/// </summary>
/// <remarks>
/// Like Node.js's <c>cluster</c> primary: workers cannot share memory, so the master keeps the state and answers
/// their calls. <see cref="WorkerOnline"/> and <see cref="WorkerExited"/> play the parts of <c>'online'</c> and
/// <c>'exit'</c>. A worker that dies, even mid-request, only loses its own subscriptions.
/// </remarks>
public sealed class SharedMemoryMaster : IAsyncDisposable
{
    private readonly SharedMemoryOptions options;
    private readonly IStoreEngine engine;
    private readonly LocalStore localStore;
    private readonly ILogger logger;
    private readonly MasterMetrics metrics;
    private readonly SemaphoreSlim spawnGate = new(1, 1);

    // The workers whose exit has not been reported yet: the master keeps nothing of a worker after that, so that a
    // master that restarts crashing workers for months does not grow (whoever holds an IWorker keeps its Process).
    private readonly ConcurrentDictionary<int, WorkerConnection> workers = new();
    private readonly ISubject<IWorker> online = Subject.Synchronize(new Subject<IWorker>());
    private readonly ISubject<WorkerExit> exited = Subject.Synchronize(new Subject<WorkerExit>());
    private int nextWorkerId;
    private int disposed;

    // The workers' messages, to the master's observers of Messages.
    private readonly MessageHub<WorkerMessage> messages;

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryMaster"/> class.</summary>
    /// <param name="options">The settings; <see langword="null"/> for the defaults. They are copied and checked here.</param>
    /// <param name="loggerFactory">Where the master logs; <see langword="null"/> for none.</param>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    public SharedMemoryMaster(SharedMemoryOptions? options = null, ILoggerFactory? loggerFactory = null)
        : this(options, loggerFactory, static (options, metrics) => new MemoryEngine(options, metrics))
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryMaster"/> class over the engine <paramref name="createEngine"/> makes from the checked settings.</summary>
    internal SharedMemoryMaster(SharedMemoryOptions? options, ILoggerFactory? loggerFactory, Func<SharedMemoryOptions, MasterMetrics, IStoreEngine> createEngine)
    {
        this.options = (options ?? new SharedMemoryOptions()).CheckedCopy();
        this.logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Rx.SharedMemory.Master");
        this.metrics = new MasterMetrics(this.options.MeterFactory);
        this.engine = createEngine(this.options, this.metrics);
        this.localStore = new LocalStore(this.engine, this.options, this.logger, typeof(SharedMemoryMaster), this.metrics);
        this.Changes = this.localStore.ObserveAllLive(this.options.SubscriberQueueCapacity, this.options.SubscriberQueueMaxBytes);
        this.metrics.ObserveMaster(new MasterMetrics.MasterState(
            Size: () => this.engine.Size,
            Workers: () => this.workers.Count,
            Subscriptions: () => this.engine.SubscriptionCount,
            QueuedChanges: () => this.workers.Values.Select(static w => w.QueuedChanges).ToArray()));
        this.messages = new MessageHub<WorkerMessage>(this.options.SubscriberQueueCapacity, this.options.SubscriberQueueMaxBytes, static m => m.Json.Length, this.logger);
    }

    /// <summary>
    /// Gets the messages workers send the master (<see cref="SharedMemoryWorker.SendAsync{T}(T, CancellationToken)"/>),
    /// like Node.js's <c>worker.on('message')</c> for every worker at once: each with its sender's id, in the order
    /// each worker sent them (messages of different workers interleave as they arrive).
    /// </summary>
    /// <remarks>
    /// Each observer has a queue of its own, of at most <see cref="SharedMemoryOptions.SubscriberQueueCapacity"/>
    /// messages and <see cref="SharedMemoryOptions.SubscriberQueueMaxBytes"/> bytes (at least one), and its
    /// <c>OnNext</c> calls come one at a time, on the thread pool, never on a worker's connection. Messages are never
    /// conflated or dropped: while an observer's queue is full, the master stops reading the pipe of each worker whose
    /// message waits for it, until the observer takes it. That worker's calls (and its next messages) wait with it;
    /// the other workers' calls do not, until they send a message too. A message that arrives while nobody observes is
    /// not kept. An observer that throws is unsubscribed (the error is logged); the worker never learns of it. The
    /// observable completes when the master is disposed; a subscription after that fails with
    /// <see cref="ObjectDisposedException"/>.
    /// </remarks>
    public IObservable<WorkerMessage> Messages => this.messages;

    /// <summary>
    /// Sends a message to every worker connected now (those that have said hello and not exited), as
    /// <see cref="IWorker.SendAsync{T}(T, CancellationToken)"/> does to one: serialized once, as the master's store
    /// serializes values, and queued for each in turn.
    /// </summary>
    /// <typeparam name="T">The message's type.</typeparam>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Withdraws the message from the workers for which it still waits for room, for the
    /// messages sent before it, or for the changes committed before it (a store kept in Redis); one already canceled
    /// sends nothing.</param>
    /// <returns>The number of workers it was queued for, once it is queued for every one: a worker whose queue is full
    /// holds the task back (the others have theirs meanwhile). A worker that exits meanwhile is left out.</returns>
    /// <exception cref="SharedMemoryLimitExceededException">The message's JSON is over
    /// <see cref="SharedMemoryOptions.MaxValueBytes"/> or nested deeper than <see cref="SharedMemoryOptions.MaxValueDepth"/>.</exception>
    /// <exception cref="NotSupportedException">The message cannot be serialized.</exception>
    /// <exception cref="ObjectDisposedException">The master is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the message
    /// was queued for every worker.</exception>
    /// <exception cref="SharedMemoryUnavailableException">The store is kept in Redis, which the master could not reach to
    /// learn the changes committed before the message (nothing was sent).</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public async ValueTask<int> BroadcastAsync<T>(T message, CancellationToken cancellationToken = default)
    {
        this.ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        return await this.BroadcastJsonAsync(MessageJson.Serialize(message, this.options.JsonSerializerOptions, this.options.MaxValueBytes), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends every worker connected now a message serialized with <paramref name="jsonTypeInfo"/>, such as a
    /// source-generated <see cref="System.Text.Json.Serialization.JsonSerializerContext"/>'s property, in place of the
    /// store's options: safe under trimming and Native AOT. Otherwise as
    /// <see cref="BroadcastAsync{T}(T, CancellationToken)"/>.
    /// </summary>
    /// <typeparam name="T">The message's type.</typeparam>
    /// <param name="message">The message.</param>
    /// <param name="jsonTypeInfo">How to write it.</param>
    /// <param name="cancellationToken">Withdraws the message from the workers for which it still waits for room, for the
    /// messages sent before it, or for the changes committed before it (a store kept in Redis); one already canceled
    /// sends nothing.</param>
    /// <returns>The number of workers it was queued for, once it is queued for every one.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The message's JSON is over
    /// <see cref="SharedMemoryOptions.MaxValueBytes"/> or nested deeper than <see cref="SharedMemoryOptions.MaxValueDepth"/>.</exception>
    /// <exception cref="NotSupportedException">The message cannot be serialized.</exception>
    /// <exception cref="ObjectDisposedException">The master is disposed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the message
    /// was queued for every worker.</exception>
    /// <exception cref="SharedMemoryUnavailableException">The store is kept in Redis, which the master could not reach to
    /// learn the changes committed before the message (nothing was sent).</exception>
    public async ValueTask<int> BroadcastAsync<T>(T message, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        this.ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        return await this.BroadcastJsonAsync(MessageJson.Serialize(message, jsonTypeInfo, this.options.MaxValueBytes), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Queues a message's JSON, checked, for every worker connected now.</summary>
    private async Task<int> BroadcastJsonAsync(byte[] json, CancellationToken cancellationToken)
    {
        var sends = new List<(WorkerConnection Worker, Task Queued)>();
        var online = this.workers.Values.Where(w => w.Online.IsCompleted).OrderBy(w => w.Id).ToList();
        if (online.Count == 0)
        {
            this.ThrowIfDisposed();
            return 0;
        }

        // Read once for every worker, each of which queues the message after it, in its place among the messages sent to
        // that worker: a failure (Redis out of reach) fails every send, and none is queued.
        var point = this.engine.CatchUpPointAsync(cancellationToken);
        if (!point.IsCompletedSuccessfully)
        {
            // Shared: a value task is awaited once.
            point = new(point.AsTask());
        }

        foreach (var worker in online)
        {
            Task queued;
            try
            {
                queued = worker.SendJsonAsync(json, point, cancellationToken).AsTask();
            }
            catch (ObjectDisposedException ex)
            {
                queued = Task.FromException(ex);
            }

            sends.Add((worker, queued));
        }

        int count = 0;
        Exception? failure = null;
        foreach (var (worker, queued) in sends)
        {
            try
            {
                await queued.ConfigureAwait(false);
                count++;
            }
            catch (ObjectDisposedException)
            {
                // The worker exited meanwhile, or the master is being disposed (said below).
            }
            catch (Exception ex)
            {
                // Every send awaited, so that none fails unobserved; the first failure is the broadcast's.
                failure ??= ex;
            }
        }

        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        this.ThrowIfDisposed();
        return count;
    }

    /// <summary>Gets the store, for the master's own code: the same API a worker has, without a pipe.</summary>
    public ISharedStore Store => this.localStore;

    /// <summary>
    /// Gets the changes committed after the moment of subscription, from every worker and from the master, in version
    /// order, delivered like any subscriber's: each observer has a queue bounded by
    /// <see cref="SharedMemoryOptions.SubscriberQueueCapacity"/> and <see cref="SharedMemoryOptions.SubscriberQueueMaxBytes"/>,
    /// and an observer that falls behind them gets, for each key, its latest change with
    /// <see cref="KeyChange.SkippedVersions"/> saying how many earlier changes to the key it replaced. It completes when
    /// the master is disposed; a subscription made after that ends at once with <see cref="ObjectDisposedException"/>.
    /// A consumer that must see every change individually uses <see cref="ObserveChanges"/>.
    /// </summary>
    public IObservable<KeyChange> Changes { get; }

    /// <summary>
    /// Observes the changes committed after the moment of subscription, as <see cref="Changes"/> does, with a queue for
    /// each observer bounded as the caller chooses. With the defaults the queue is unbounded: the observer sees every
    /// change, individually and in version order (<see cref="KeyChange.SkippedVersions"/> always 0), and the master
    /// holds every change the observer has not yet taken, however far it falls behind: its memory then grows with the
    /// observer's lag. Writers are never slowed or blocked by an observer.
    /// </summary>
    /// <param name="queueCapacity">How many changes may wait for an observer before they conflate per key.</param>
    /// <param name="queueMaxBytes">How many bytes of values may wait for an observer before they conflate per key.</param>
    /// <returns>A cold observable: each subscription registers, and disposing it unregisters. It completes when the master is disposed; a subscription made after that ends at once with <see cref="ObjectDisposedException"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="queueCapacity"/> or <paramref name="queueMaxBytes"/> is not positive.</exception>
    public IObservable<KeyChange> ObserveChanges(int queueCapacity = int.MaxValue, long queueMaxBytes = long.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queueCapacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queueMaxBytes);
        return this.localStore.ObserveAllLive(queueCapacity, queueMaxBytes);
    }

    /// <summary>Gets the workers that connect, as each says hello (like <c>cluster.on('online')</c>).</summary>
    public IObservable<IWorker> WorkerOnline => this.online.AsObservable();

    /// <summary>Gets the workers that exit, after the master has released what each held (like <c>cluster.on('exit')</c>).</summary>
    public IObservable<WorkerExit> WorkerExited => this.exited.AsObservable();

    /// <summary>Gets the workers that are running.</summary>
    public IReadOnlyCollection<IWorker> Workers => [.. this.workers.Values.OrderBy(w => w.Id)];

    /// <summary>Gets the version of the last committed change.</summary>
    /// <exception cref="SharedMemoryUnavailableException">The store is kept elsewhere (Redis) and did not answer.</exception>
    public long Version => this.engine.Version;

    /// <summary>Gets the number of keys in the store.</summary>
    /// <exception cref="SharedMemoryUnavailableException">The store is kept elsewhere (Redis) and did not answer.</exception>
    public int Count => this.engine.Count;

    /// <summary>Gets the bytes the store counts against <see cref="SharedMemoryOptions.MaxBytes"/>: values' JSON and keys' UTF-8.</summary>
    /// <exception cref="SharedMemoryUnavailableException">The store is kept elsewhere (Redis) and did not answer.</exception>
    public long Bytes => this.engine.Bytes;

    /// <summary>Gets the number of live subscriptions, in-process and from every worker.</summary>
    public int SubscriptionCount => this.engine.SubscriptionCount;

    /// <summary>
    /// Starts a worker process and waits until it has connected. The process must call
    /// <see cref="SharedMemoryWorker.ConnectAsync(CancellationToken)"/>; <see cref="WorkerStartInfo.ForThisProgram"/>
    /// builds the start info for a program that is its own worker.
    /// </summary>
    /// <remarks>
    /// Unless <paramref name="startInfo"/> redirects it already, the worker's standard error is redirected to the
    /// master, which passes every byte on to its own standard error as it comes, for the worker's whole life, and keeps
    /// the last lines written before the worker connects for <see cref="SharedMemoryWorkerStartException"/>. So the
    /// worker's messages still reach the same place, but through a pipe: the worker does not see a terminal on its
    /// standard error, and its <see cref="Process.StandardError"/> is the master's to read. A caller that redirects it
    /// itself (<see cref="ProcessStartInfo.RedirectStandardError"/>) reads it, and must, as with any redirected stream;
    /// the master then reads none of it. <paramref name="startInfo"/> is left as it was given.
    /// </remarks>
    /// <param name="startInfo">How to start the process; <see cref="ProcessStartInfo.UseShellExecute"/> must be false. Its environment gets the pipe handles for the start.</param>
    /// <param name="cancellationToken">A token that cancels the wait; the process is then killed.</param>
    /// <returns>The worker, online.</returns>
    /// <exception cref="ArgumentException"><paramref name="startInfo"/> uses the shell.</exception>
    /// <exception cref="SharedMemoryWorkerStartException">
    /// The program could not be started, exited before it connected, or did not connect within
    /// <see cref="SharedMemoryOptions.WorkerStartTimeout"/> (it was then killed); the exception has the program, its
    /// exit code, and the last lines it wrote to standard error.
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; a process already started was killed.</exception>
    /// <exception cref="ObjectDisposedException">The master was disposed.</exception>
    public async Task<IWorker> SpawnWorkerAsync(ProcessStartInfo startInfo, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(startInfo);
        if (startInfo.UseShellExecute)
        {
            throw new ArgumentException("A worker cannot be started through the shell: its pipes are passed by inheritance. Set UseShellExecute to false.", nameof(startInfo));
        }

        this.ThrowIfDisposed();
        var (worker, standardError) = await this.StartWorkerAsync(startInfo, cancellationToken).ConfigureAwait(false);
        await this.WaitOnlineAsync(worker, startInfo, standardError, cancellationToken).ConfigureAwait(false);
        return worker;
    }

    /// <summary>Starts the worker's process with its pipes and begins serving its connection.</summary>
    private async Task<(WorkerConnection Worker, WorkerStandardError? StandardError)> StartWorkerAsync(ProcessStartInfo startInfo, CancellationToken cancellationToken)
    {
        WorkerConnection worker;
        WorkerStandardError? standardError = null;

        // One start at a time: a child started while another child's pipe ends are still open in this process would inherit them.
        await this.spawnGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            this.ThrowIfDisposed();
            var pipes = new MasterEndPipes(this.options.LargeValuesThroughSharedMemory ? SharedRegion.TryCreate(this.options.MaxValueBytes) : null);
            var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };

            // A caller that redirected standard error reads it; otherwise the master does, to say why a worker failed.
            bool captureStandardError = !startInfo.RedirectStandardError;
            try
            {
                try
                {
                    pipes.AddTo(startInfo);
                    startInfo.RedirectStandardError = true;
                    process.Start();
                }
                finally
                {
                    startInfo.RedirectStandardError = !captureStandardError;
                    pipes.ReleaseClientEnds();
                    startInfo.Environment.Remove(PipeEnvironment.FromMaster);
                    startInfo.Environment.Remove(PipeEnvironment.ToMaster);
                    startInfo.Environment.Remove(PipeEnvironment.Region);
                }
            }
            catch (Exception ex)
            {
                pipes.Dispose();
                process.Dispose();
                if (ex is Win32Exception)
                {
                    throw new SharedMemoryWorkerStartException(
                        $"The worker {Describe(startInfo)} could not be started: {ex.Message}", startInfo.FileName, CommandLine(startInfo), processId: null, exitCode: null, standardErrorTail: null, ex);
                }

                throw;
            }

            if (captureStandardError)
            {
                standardError = WorkerStandardError.Start(process.StandardError.BaseStream, startInfo.StandardErrorEncoding);
            }

            worker = new WorkerConnection(Interlocked.Increment(ref this.nextWorkerId), process, pipes, standardError, this.engine, this.options, this.messages, this.logger, this.metrics);
            this.workers[worker.Id] = worker;
            worker.Start(this.OnWorkerExited);
        }
        finally
        {
            this.spawnGate.Release();
        }

        return (worker, standardError);
    }

    /// <summary>Waits for the worker's hello; a worker that exits first, or does not connect in time, fails the spawn.</summary>
    private async Task WaitOnlineAsync(WorkerConnection worker, ProcessStartInfo startInfo, WorkerStandardError? standardError, CancellationToken cancellationToken)
    {
        try
        {
            await Task.WhenAny(worker.Online, worker.Gone).WaitAsync(this.options.WorkerStartTimeout, cancellationToken).ConfigureAwait(false);

            // A worker that said hello was online, even if it is already gone: which wait finished first says nothing.
            if (!worker.Online.IsCompleted)
            {
                int? exitCode = worker.Process.HasExited ? worker.Process.ExitCode : null;
                var tail = await StandardErrorTailAsync(standardError).ConfigureAwait(false);
                throw StartFailed(worker, startInfo, $"exited with code {exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(unknown)"} before it connected", exitCode, tail, null);
            }

            standardError?.StopKeeping();
            this.logger.WorkerOnline(worker.Id, worker.ProcessId);
            this.online.OnNext(worker);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            worker.Kill();
            if (ex is TimeoutException)
            {
                // Killed first, so that its standard error ends and its last lines are all read.
                var tail = await StandardErrorTailAsync(standardError).ConfigureAwait(false);
                throw StartFailed(worker, startInfo, $"did not connect within {this.options.WorkerStartTimeout}; it was killed", exitCode: null, tail, ex);
            }

            throw;
        }
        finally
        {
            worker.SpawnSettled();
        }
    }

    /// <summary>
    /// Closes every worker's connection, waits up to <see cref="SharedMemoryOptions.WorkerShutdownTimeout"/> for the
    /// workers to exit and kills those that remain, then completes every observable of the master. Idempotent.
    /// </summary>
    /// <returns>A task that completes when every worker has exited.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref this.disposed, 1) != 0)
        {
            return;
        }

        try
        {
            // Waits for a spawn in progress, so that its worker is stopped too.
            await this.spawnGate.WaitAsync().ConfigureAwait(false);
            WorkerConnection[] stopped = [.. this.workers.Values];
            try
            {
                await Task.WhenAll(stopped.Select(w => w.StopAsync(this.options.WorkerShutdownTimeout))).ConfigureAwait(false);
            }
            finally
            {
                this.spawnGate.Release();
            }

            this.localStore.Shutdown();
            this.engine.Dispose();
            foreach (var worker in stopped)
            {
                worker.Process.Dispose();
            }

            this.online.OnCompleted();
            this.exited.OnCompleted();
            this.messages.Complete();
        }
        finally
        {
            // Whatever failed above: a factory's meter outlives the master, and its instruments must let go of it.
            this.metrics.Dispose();
        }
    }

    /// <summary>Gets the master's instruments, for tests.</summary>
    internal MasterMetrics Metrics => this.metrics;

    /// <summary>Gets the engine, for tests that check what a dead worker left.</summary>
    internal IStoreEngine Engine => this.engine;

    private void OnWorkerExited(WorkerConnection worker, int exitCode)
    {
        this.workers.TryRemove(worker.Id, out _);
        this.exited.OnNext(new WorkerExit(worker, exitCode));
    }

    /// <summary>The last lines of a worker's standard error, once it has ended (<see cref="WorkerStandardError.EndAsync"/>); none when the master does not read it.</summary>
    private static async Task<IReadOnlyList<string>> StandardErrorTailAsync(WorkerStandardError? standardError)
    {
        if (standardError is null)
        {
            return [];
        }

        await standardError.EndAsync().ConfigureAwait(false);
        return standardError.Tail();
    }

    private static SharedMemoryWorkerStartException StartFailed(WorkerConnection worker, ProcessStartInfo startInfo, string what, int? exitCode, IReadOnlyList<string> tail, Exception? cause)
    {
        var message = new StringBuilder($"Worker {worker.Id} {Describe(startInfo)}, pid {worker.ProcessId}, {what}.");
        if (tail.Count > 0)
        {
            message.Append(" The last lines it wrote to standard error:");
            foreach (var line in tail)
            {
                message.Append("\n  ").Append(line);
            }
        }
        else
        {
            message.Append(" It wrote nothing to standard error that the master read.");
        }

        return new SharedMemoryWorkerStartException(message.ToString(), startInfo.FileName, CommandLine(startInfo), worker.ProcessId, exitCode, tail, cause);
    }

    /// <summary>The program and its arguments, for a message.</summary>
    private static string Describe(ProcessStartInfo startInfo)
    {
        var arguments = CommandLine(startInfo);
        return arguments.Length == 0 ? $"({startInfo.FileName})" : $"({startInfo.FileName} {arguments})";
    }

    /// <summary>The arguments as one command line: the list's, each quoted when it has a space or a quote, or the string's.</summary>
    private static string CommandLine(ProcessStartInfo startInfo) =>
        startInfo.ArgumentList.Count == 0
            ? startInfo.Arguments
            : string.Join(' ', startInfo.ArgumentList.Select(static a => a.Length == 0 || a.AsSpan().IndexOfAny(' ', '\t', '"') >= 0 ? $"\"{a.Replace("\"", "\\\"", StringComparison.Ordinal)}\"" : a));

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref this.disposed) != 0, this);
}
