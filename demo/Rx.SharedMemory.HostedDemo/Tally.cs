using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Rx.SharedMemory;

namespace Rx.SharedMemory.HostedDemo;

/// <summary>
/// The master's job: once a worker has finished counting, kills it (SIGKILL) so that the host restarts it, then
/// waits for the count of all three runs and stops the application.
/// </summary>
internal sealed class Tally(SharedMemoryMaster master, ISharedStore store, HealthCheckService health, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // A demo never hangs: past a minute it says so and fails.
        using var guard = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        guard.CancelAfter(TimeSpan.FromMinutes(1));
        try
        {
            await this.RunAsync(guard.Token);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            Console.WriteLine("master: the workers did not finish within a minute");
            Environment.ExitCode = 1;
        }

        lifetime.StopApplication();
    }

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        var firstDone = await store.ObservePrefix("demo/done/").Where(c => c.Kind == KeyChangeKind.Set).FirstAsync().ToTask(stoppingToken);
        var victim = master.Workers.First(w => $"demo/done/{w.Id}" == firstDone.Key);
        var restarted = master.WorkerOnline.FirstAsync().ToTask(stoppingToken);
        victim.Kill();
        Console.WriteLine($"master: killed worker {victim.Id}; it exited with {await victim.Exited.WaitAsync(stoppingToken)}");
        Console.WriteLine($"master: health while it waits to restart: {(await health.CheckHealthAsync(stoppingToken)).Status}");
        Console.WriteLine($"master: worker {(await restarted).Id} took its place");

        await store.Observe("demo/count").Where(c => c.Exists && c.Value.GetInt64() >= 15).FirstAsync().ToTask(stoppingToken);
        Console.WriteLine($"master: count reached 15; health {(await health.CheckHealthAsync(stoppingToken)).Status}; stopping");
    }
}
