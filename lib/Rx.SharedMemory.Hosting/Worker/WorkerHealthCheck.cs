using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Rx.SharedMemory.Hosting.Worker;

/// <summary>Healthy while the worker is connected to its master; the registration's failure status before it connects and once the connection has ended.</summary>
internal sealed class WorkerHealthCheck(WorkerConnectionService connection) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var worker = connection.Worker;
        return Task.FromResult(
            worker is null ? new HealthCheckResult(context.Registration.FailureStatus, "The worker is not connected to its master yet: the host has not started it.")
            : worker.Completion.IsCompleted ? new HealthCheckResult(context.Registration.FailureStatus, $"Worker {worker.WorkerId}'s connection to its master has ended.")
            : HealthCheckResult.Healthy($"Connected to the master as worker {worker.WorkerId}."));
    }
}
