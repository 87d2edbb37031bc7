using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rx.SharedMemory.Hosting.Logging;

namespace Rx.SharedMemory.Hosting.Worker;

/// <summary>
/// Connects a worker program to its master, once: when the host starts, or earlier when something resolves the
/// store first (the host builds every hosted service, with what their constructors take, before it starts any of
/// them). Closes the connection when the host stops.
/// </summary>
internal sealed class WorkerConnectionService(IOptions<SharedMemoryWorkerHostOptions> options, ILoggerFactory? loggerFactory, IHostApplicationLifetime? lifetime) : IHostedService, IDisposable
{
    private readonly ILogger logger = (loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger("Rx.SharedMemory.Hosting");
    private readonly Lock gate = new();

    // Guarded by gate: the one connection attempt.
    private Task<SharedMemoryWorker>? connecting;

    // Set once connected, read by health checks on any thread.
    private volatile SharedMemoryWorker? worker;
    private volatile bool stopping;

    // Cancels a connection attempt still waiting for the master's answer when the host stops.
    private readonly CancellationTokenSource stopped = new();

    private int disposed;

    // Set once the loss of the master has asked the application to stop.
    private int stopAsked;
    private CancellationTokenRegistration startedRegistration;

    /// <summary>How long after the master's loss a host still starting is stopped anyway: its start may wait for the master.</summary>
    internal static readonly TimeSpan StartGrace = TimeSpan.FromSeconds(10);

    /// <summary>Gets the connected worker, or null before it has connected.</summary>
    public SharedMemoryWorker? Worker => this.worker;

    /// <summary>Gets the connected worker, connecting now if nothing has yet: the handshake is one round trip.</summary>
    /// <exception cref="InvalidOperationException">This process was not started by a master.</exception>
    // A container's factories are synchronous. The wait cannot deadlock: nothing here captures a synchronization
    // context, and the handshake's continuations run on the thread pool.
#pragma warning disable VSTHRD002
    public SharedMemoryWorker ConnectedWorker => this.ConnectOnceAsync().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002

    public Task StartAsync(CancellationToken cancellationToken) => this.ConnectOnceAsync().WaitAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        this.stopping = true;
        Task<SharedMemoryWorker>? attempt;
        lock (this.gate)
        {
            attempt = this.connecting;
        }

        if (attempt is null)
        {
            return;
        }

        // An attempt still waiting for the master's answer ends here; one made already is closed, not left open.
        if (Volatile.Read(ref this.disposed) == 0)
        {
            await this.stopped.CancelAsync().ConfigureAwait(false);
        }
        SharedMemoryWorker connected;
        try
        {
            connected = await attempt.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host gave up waiting: whatever the attempt ends with is closed then.
            _ = CloseWhenMadeAsync(attempt);
            return;
        }
        catch (Exception ex) when (ex is SharedMemoryException or InvalidOperationException or IOException or OperationCanceledException)
        {
            return;
        }

        await connected.DisposeAsync().ConfigureAwait(false);
    }

    public void Dispose()
    {
        // Once, though the container may dispose it under each service it is registered as. A host disposed without
        // being stopped (its start failed) ends the attempt too.
        if (Interlocked.Exchange(ref this.disposed, 1) == 0)
        {
            this.startedRegistration.Dispose();
            this.stopped.Cancel();
            this.stopped.Dispose();
        }
    }

    private static async Task CloseWhenMadeAsync(Task<SharedMemoryWorker> attempt)
    {
        try
        {
            await (await attempt.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SharedMemoryException or InvalidOperationException or IOException or OperationCanceledException)
        {
            // The attempt failed, or the connection was already gone: nothing is left open.
        }
    }

    private Task<SharedMemoryWorker> ConnectOnceAsync()
    {
        lock (this.gate)
        {
            return this.connecting ??= this.ConnectAsync();
        }
    }

    private async Task<SharedMemoryWorker> ConnectAsync()
    {
        var settings = options.Value;
        var connected = await SharedMemoryWorker.ConnectAsync(settings.Connection, loggerFactory, this.stopped.Token).ConfigureAwait(false);
        this.worker = connected;
        if (settings.StopApplicationOnDisconnect && lifetime is not null)
        {
            // Once the host has started: a stop asked for while it starts cancels its start, which then fails (and
            // the program with it). Registered on a token already cancelled, it runs at once. A start still going
            // StartGrace after the loss may be waiting for the master: it is stopped then, rather than left running.
            _ = connected.Completion.ContinueWith(
                _ =>
                {
                    try
                    {
                        this.startedRegistration = lifetime.ApplicationStarted.Register(() => this.StopApplication(lifetime));
                        _ = Task.Delay(StartGrace, this.stopped.Token).ContinueWith(
                            _ => this.StopApplication(lifetime),
                            CancellationToken.None,
                            TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously,
                            TaskScheduler.Default);
                    }
                    catch (ObjectDisposedException)
                    {
                        // The host is disposed already: nothing is left to stop.
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        return connected;
    }

    /// <summary>Stops the application once, unless the host is stopping already.</summary>
    private void StopApplication(IHostApplicationLifetime lifetime)
    {
        if (Interlocked.Exchange(ref this.stopAsked, 1) == 0 && !this.stopping && !lifetime.ApplicationStopping.IsCancellationRequested)
        {
            this.logger.MasterLostStoppingApplication();
            lifetime.StopApplication();
        }
    }
}
