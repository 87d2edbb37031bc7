using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rx.SharedMemory.Hosting.Logging;

namespace Rx.SharedMemory.Hosting.Worker;

/// <summary>Connects a worker program to its master when the host starts, and closes the connection when it stops.</summary>
internal sealed class WorkerConnectionService(IOptions<SharedMemoryWorkerHostOptions> options, ILoggerFactory? loggerFactory, IHostApplicationLifetime? lifetime) : IHostedService
{
    private readonly ILogger logger = (loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger("Rx.SharedMemory.Hosting");

    // Set once by StartAsync, read on any thread.
    private volatile SharedMemoryWorker? worker;
    private volatile bool stopping;

    /// <summary>Gets the connected worker, or null before the host has started it.</summary>
    public SharedMemoryWorker? Worker => this.worker;

    /// <summary>Gets the connected worker.</summary>
    /// <exception cref="InvalidOperationException">The host has not started yet.</exception>
    public SharedMemoryWorker ConnectedWorker => this.worker ?? throw new InvalidOperationException(
        "The shared-memory worker connects when the host starts (AddSharedMemoryWorker's hosted service): resolve ISharedStore after that, from a hosted service registered after AddSharedMemoryWorker, or in a BackgroundService.");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var connected = await SharedMemoryWorker.ConnectAsync(options.Value.Connection, loggerFactory, cancellationToken).ConfigureAwait(false);
        this.worker = connected;
        if (options.Value.StopApplicationOnDisconnect && lifetime is not null)
        {
            _ = connected.Completion.ContinueWith(
                _ =>
                {
                    if (!this.stopping)
                    {
                        this.logger.MasterLostStoppingApplication();
                        lifetime.StopApplication();
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        this.stopping = true;
        if (this.worker is { } connected)
        {
            await connected.DisposeAsync().ConfigureAwait(false);
        }
    }
}
