using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Rx.SharedMemory.Hosting.Master;

/// <summary>
/// Healthy while the hosted master runs with every configured worker online; degraded while a worker waits to be
/// restarted or was left stopped after a failure; the registration's failure status when the master is not running.
/// </summary>
internal sealed class MasterHealthCheck(WorkerSupervisor supervisor) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!supervisor.IsRunning)
        {
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, "The shared-memory master is not running: the host has not started it, or has stopped it."));
        }

        var slots = supervisor.Slots;
        var data = new Dictionary<string, object>
        {
            ["workersOnline"] = supervisor.Master.Workers.Count,
            ["workersConfigured"] = slots.Count,
        };
        var down = slots
            .Where(s => s.SlotState == WorkerSlotState.Restarting || (s.SlotState == WorkerSlotState.Stopped && s.LastExitCode != 0))
            .Select(s => s.SlotState == WorkerSlotState.Restarting
                ? $"{s.Name} exited with code {s.LastExitCode} and is restarting"
                : $"{s.Name} exited with code {s.LastExitCode} and is left stopped")
            .ToArray();
        return Task.FromResult(down.Length == 0
            ? HealthCheckResult.Healthy($"The shared-memory master runs with {slots.Count(s => s.SlotState == WorkerSlotState.Running)} of {slots.Count} workers online.", data)
            : HealthCheckResult.Degraded(string.Join("; ", down) + ".", data: data));
    }
}
