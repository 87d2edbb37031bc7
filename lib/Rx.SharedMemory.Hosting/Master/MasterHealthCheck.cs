using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Rx.SharedMemory.Hosting.Master;

/// <summary>
/// Healthy while the hosted master runs with every configured worker online, or finished: exited with code 0 and left
/// stopped by its restart mode (<see cref="WorkerRestartMode.OnFailure"/> or <see cref="WorkerRestartMode.Never"/>),
/// which is the end of its work, not a fault. Degraded while a worker has exited and waits to be restarted, or was
/// left stopped after a failure (any other exit code, or a signal). The registration's failure status when the master
/// is not running, or when a worker's supervision failed.
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
        var failed = slots.Where(s => s.SlotState == WorkerSlotState.Failed).Select(s => $"{s.Name} is no longer supervised (see event 404)").ToArray();
        if (failed.Length > 0)
        {
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, string.Join("; ", failed) + ".", data: data));
        }

        // A worker that has exited counts as down even before its supervisor has said so.
        var down = slots
            .Where(s => s.SlotState == WorkerSlotState.Restarting || (s.SlotState == WorkerSlotState.Stopped && s.LastExitCode != 0) || (s.SlotState == WorkerSlotState.Running && s.Worker.Exited.IsCompleted))
            .Select(s => s.SlotState switch
            {
                WorkerSlotState.Restarting => $"{s.Name} exited with code {s.LastExitCode} and is restarting",
                WorkerSlotState.Stopped => $"{s.Name} exited with code {s.LastExitCode} and is left stopped",
                _ => $"{s.Name} has exited",
            })
            .ToArray();
        if (down.Length > 0)
        {
            return Task.FromResult(HealthCheckResult.Degraded(string.Join("; ", down) + ".", data: data));
        }

        // What is left is online, or finished: exited with 0 where the restart mode does not restart that.
        var finished = slots.Where(s => s.SlotState == WorkerSlotState.Stopped).Select(s => s.Name).ToArray();
        data["workersFinished"] = finished.Length;
        var online = $"The shared-memory master runs with {slots.Count(s => s.SlotState == WorkerSlotState.Running)} of {slots.Count} workers online";
        return Task.FromResult(HealthCheckResult.Healthy(
            finished.Length == 0 ? online + "." : $"{online}; {string.Join(", ", finished)} finished (exit code 0, not restarted by its restart mode).",
            data));
    }
}
