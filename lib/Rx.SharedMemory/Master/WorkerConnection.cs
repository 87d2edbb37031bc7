using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Logging;
using Rx.SharedMemory.Messaging;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Store;
using Rx.SharedMemory.Transport;
using StreamJsonRpc;

namespace Rx.SharedMemory.Master;

/// <summary>
/// The master's side of one spawned worker: its process, its pipes, its JSON-RPC channel and its outbound change
/// queue here, and what the connection serves and owns in WorkerConnection.Operations.cs.
/// </summary>
internal sealed partial class WorkerConnection : IWorker
{
    // The worker's standard error, when the master reads it: the worker's exit is reported once that has ended.
    private readonly WorkerStandardError? standardError;
    private readonly ChangeOutbox outbox;
    private readonly ILogger logger;

    // The declared type of the changes notification's one argument, so that it is written by its contract, not by reflection on an anonymous object.
    private static readonly IReadOnlyDictionary<string, Type> ChangesArgumentTypes = new Dictionary<string, Type> { ["changes"] = typeof(ChangeBatch) };

    // The process and the channel; null only for a connection made for tests without them.
    private readonly Wire? wire;
    private readonly TaskCompletionSource<int> exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource gone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource onlineReported = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Cancelled when the master stops this connection: a release the engine could not take is asked no more.
    private readonly CancellationTokenSource stopping = new();

    // The longest wait between two asks of a release the engine could not take.
    private static readonly TimeSpan MaxReleaseWait = TimeSpan.FromSeconds(2);

    public WorkerConnection(int id, Process process, MasterEndPipes pipes, WorkerStandardError? standardError, IStoreEngine engine, SharedMemoryOptions options, MessageHub<WorkerMessage> messages, ILogger logger, MasterMetrics metrics)
    {
        this.messages = messages;
        this.standardError = standardError;
        this.Id = id;
        this.ProcessId = process.Id;
        this.engine = engine;
        this.options = options;
        this.offeredRegion = pipes.Region;
        this.logger = logger;
        this.Metrics = metrics;
        var outbound = new OutboundBuffer(options.MaxConnectionBufferBytes, () => logger.WorkerStoppedReading(id));
        var rpc = MasterChannel.Create(new FrameGuardStream(pipes.FromWorker, ProtocolLimits.MaxFrameBytes(options.MaxValueBytes, options.MaxKeyLength)), pipes.ToWorker, $"Rx.SharedMemory worker {id} reader", outbound, (exception, method) => logger.RequestFailed(exception, method, id), this.readHold, metrics);
        this.wire = new Wire(process, pipes, rpc, outbound);
        this.outbox = new ChangeOutbox(options.SubscriberQueueCapacity, this.SendChangesAsync, logger, options.SubscriberQueueMaxBytes, metrics);
        OperationTable.Register(rpc, this);
        rpc.Disconnected += this.OnDisconnected;
    }

    public int Id { get; }

    public int ProcessId { get; }

    public Process Process => this.Wired.Process;

    public Task<int> Exited => this.exited.Task;

    /// <summary>Gets a task that completes when the worker has said hello.</summary>
    public Task Online => this.hello.Task;

    /// <summary>Gets a task that completes when the process has exited and its connection is released, before <see cref="Exited"/>.</summary>
    public Task Gone => this.gone.Task;

    /// <summary>Tells the connection that the spawn is over, online or not: its exit is reported only after that, so that no exit precedes its online.</summary>
    public void SpawnSettled() => this.onlineReported.TrySetResult();

    /// <summary>Gets the changes waiting to be sent to the worker, with its id, for the connection queue instrument.</summary>
    public (int WorkerId, long Count) QueuedChanges => (this.Id, this.outbox.Count);

    /// <summary>Gets a task that completes when none of the worker's requests is running, for tests.</summary>
    internal Task DispatchCompletion => this.Wired.Rpc.DispatchCompletion;

    private Wire Wired => this.wire ?? throw new InvalidOperationException($"Worker {this.Id}'s connection was made without a process.");

    /// <summary>Starts serving the worker, and watching for its end; <paramref name="onExit"/> runs once it is gone.</summary>
    public void Start(Action<WorkerConnection, int> onExit)
    {
        RpcChannel.StartListening(this.Wired.Rpc);
        RpcChannel.ObserveCompletion(this.Wired.Rpc, this.logger);

        // Not in the spawner's context: the release of what the worker held, and WorkerExited's observers, are not part of it.
        _ = Detached.RunAsync(() => this.WatchAsync(onExit));
    }

    public void Kill()
    {
        try
        {
            this.Wired.Process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>Closes the connection (the worker sees end of file), waits for the process to exit, and kills it past the timeout.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        await this.stopping.CancelAsync().ConfigureAwait(false);
        this.Wired.Rpc.Dispose();
        try
        {
            await this.Exited.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            this.logger.WorkerKilledAtShutdown(this.Id, this.ProcessId, timeout);
            this.Kill();
            await this.Exited.ConfigureAwait(false);
        }
    }

    private async Task WatchAsync(Action<WorkerConnection, int> onExit)
    {
        var processExit = this.Wired.Process.WaitForExitAsync();
        try
        {
            await Task.WhenAny(this.Wired.Rpc.Completion, processExit).ConfigureAwait(false);

            // Whatever ended first, the connection is over: the worker's subscriptions go now, and the connection's
            // threads close the pipes (MasterEndPipes.EndConnection), so that a worker that broke the protocol sees end
            // of file instead of blocking on a pipe nobody reads.
            try
            {
                await this.ReleaseAllAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // The engine failed otherwise than by being out of reach: the rest of the goodbye still happens.
                this.logger.WorkerWatchFailed(ex, this.Id);
            }

            this.outbox.Dispose();
            this.Wired.Rpc.Dispose();
            this.Wired.Pipes.EndConnection();
            await processExit.ConfigureAwait(false);

            // What it wrote before it exited is passed on before its exit is reported.
            if (this.standardError is not null)
            {
                await this.standardError.EndAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            this.logger.WorkerWatchFailed(ex, this.Id);
        }
        finally
        {
            this.Wired.Rpc.Dispose();
            this.Wired.Pipes.EndConnection();
        }

        int exitCode = this.Wired.Process.HasExited ? this.Wired.Process.ExitCode : -1;
        this.gone.TrySetResult();
        await this.onlineReported.Task.ConfigureAwait(false);
        this.logger.WorkerExited(this.Id, this.ProcessId, exitCode);
        this.exited.TrySetResult(exitCode);
        try
        {
            onExit(this, exitCode);
        }
        catch (Exception ex)
        {
            // An observer of WorkerExited threw: that is its own failure, and nothing else awaits this task.
            this.logger.WorkerExitObserverFailed(ex, this.Id);
        }
    }

    private void OnDisconnected(object? sender, JsonRpcDisconnectedEventArgs e)
    {
        if (e.Reason is not (DisconnectedReason.LocallyDisposed or DisconnectedReason.RemotePartyTerminated))
        {
            // A malformed or oversized message ends this worker's connection, and nothing else.
            this.logger.WorkerConnectionClosed(e.Exception, this.Id, this.ProcessId, e.Reason, e.Description);
        }
    }

    /// <summary>
    /// Writes a batch the outbox took, in its order: its changes as <c>changes</c> notifications, each message between
    /// them as a <c>message</c> notification of its own.
    /// </summary>
    private async ValueTask SendChangesAsync(IReadOnlyList<OutboxItem> batch)
    {
        if (this.Wired.Rpc.IsDisposed)
        {
            return;
        }

        // Each change carries the trace of its write; the notification, which carries many, carries none (the
        // master's connections send no traceparent).
        try
        {
            int start = 0;
            for (int i = 0; i <= batch.Count; i++)
            {
                if (i < batch.Count && batch[i].Message is null)
                {
                    continue;
                }

                if (i > start)
                {
                    var changes = start == 0 && i == batch.Count ? batch : ((List<OutboxItem>)batch).GetRange(start, i - start);

                    // Held back while answers fill the write buffer: waiting here, later changes conflate in the outbox.
                    await this.Wired.Outbound.WaitAtMostAsync(OutboundBuffer.ChangeThreshold, CancellationToken.None).ConfigureAwait(false);
                    await this.Wired.Rpc.NotifyWithParameterObjectAsync(RpcMethods.Changes, new Dictionary<string, object?> { ["changes"] = new ChangeBatch(changes) }, ChangesArgumentTypes).ConfigureAwait(false);
                }

                if (i < batch.Count)
                {
                    // Held back likewise: waiting here, the messages sent after it wait in the outbox, bounded, and
                    // their senders wait for room.
                    await this.Wired.Outbound.WaitAtMostAsync(OutboundBuffer.ChangeThreshold, CancellationToken.None).ConfigureAwait(false);
                    await this.Wired.Rpc.NotifyWithParameterObjectAsync(RpcMethods.Message, MessageNotification.Arguments(batch[i].Message!), MessageNotification.ArgumentTypes).ConfigureAwait(false);
                }

                start = i + 1;
            }
        }
        catch (Exception ex) when (ex is ConnectionLostException or ObjectDisposedException or IOException)
        {
            // The worker is gone; WatchAsync releases its subscriptions. The writer of the change never notices.
            this.logger.WorkerChangesDropped(ex, this.Id);
        }
    }

    /// <summary>What carries a spawned worker's connection.</summary>
    private sealed record Wire(Process Process, MasterEndPipes Pipes, JsonRpc Rpc, OutboundBuffer Outbound);
}
