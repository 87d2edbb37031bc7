using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Rx.SharedMemory;

namespace Rx.SharedMemory.HostedDemo;

/// <summary>A worker's job: adds 1 to demo/count five times, then waits for its host to stop (when the master goes).</summary>
internal sealed class Counter(ISharedStore store, SharedMemoryWorker worker, HealthCheckService health) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var report = await health.CheckHealthAsync(stoppingToken);
        Console.WriteLine($"worker {worker.WorkerId}: {report.Status}, counting");
        for (int i = 0; i < 5; i++)
        {
            await store.IncrementAsync("demo/count", cancellationToken: stoppingToken);
        }

        await store.IncrementAsync($"demo/done/{worker.WorkerId}", cancellationToken: stoppingToken);
    }
}
