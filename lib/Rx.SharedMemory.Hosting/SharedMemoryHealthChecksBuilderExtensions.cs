using Microsoft.Extensions.Diagnostics.HealthChecks;
using Rx.SharedMemory.Hosting;
using Rx.SharedMemory.Hosting.Master;
using Rx.SharedMemory.Hosting.Worker;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Health checks for a hosted shared-memory master and for a worker's connection to its master.</summary>
public static class SharedMemoryHealthChecksBuilderExtensions
{
    /// <summary>
    /// Checks the master registered with <c>services.AddSharedMemoryMaster</c>: healthy while it runs with every
    /// configured worker online or finished (exited with code 0 where its <see cref="WorkerRestartOptions.Mode"/>,
    /// <see cref="WorkerRestartMode.OnFailure"/> or <see cref="WorkerRestartMode.Never"/>, does not restart it);
    /// degraded while a worker has exited and waits to be restarted, or was left stopped after a failure (another exit
    /// code, or a signal); <paramref name="failureStatus"/> when the master is not running (before the host starts it,
    /// after it stops) and when a worker's supervision itself failed (logged as event 404).
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="failureStatus">What the check reports when the master is not running or a supervision failed; null for <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter the check by.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IHealthChecksBuilder AddSharedMemoryMaster(this IHealthChecksBuilder builder, string name = "sharedmemory-master", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
        => Register(builder, name, static sp => new MasterHealthCheck(sp.GetService<WorkerSupervisor>() ?? throw new InvalidOperationException("The shared-memory master health check needs services.AddSharedMemoryMaster(...).")), failureStatus, tags);

    /// <summary>
    /// Checks this worker's connection, registered with <c>services.AddSharedMemoryWorker</c>: healthy while it is
    /// connected to its master; <paramref name="failureStatus"/> before it connects and once the connection has ended.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="failureStatus">What the check reports when the worker is not connected; null for <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter the check by.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IHealthChecksBuilder AddSharedMemoryWorker(this IHealthChecksBuilder builder, string name = "sharedmemory-worker", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
        => Register(builder, name, static sp => new WorkerHealthCheck(sp.GetService<WorkerConnectionService>() ?? throw new InvalidOperationException("The shared-memory worker health check needs services.AddSharedMemoryWorker(...).")), failureStatus, tags);

    private static IHealthChecksBuilder Register(IHealthChecksBuilder builder, string name, Func<IServiceProvider, IHealthCheck> create, HealthStatus? failureStatus, IEnumerable<string>? tags)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return builder.Add(new HealthCheckRegistration(name, create, failureStatus, tags));
    }
}
