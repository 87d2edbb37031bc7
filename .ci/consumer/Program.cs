// The program .ci/consumer-check builds in a new console app that references the packed packages, as a user's
// application would: a generic host with AddSharedMemoryMaster that starts this same program once as a worker, and
// OpenTelemetry's console exporter for the library's traces, metrics and logs. The worker makes a few store calls and
// exits; the master stops when it has gone. The check then looks for the library's telemetry in what was printed.
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Rx.SharedMemory;
using Rx.SharedMemory.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.ClearProviders();
if (!SharedMemoryWorker.IsWorkerProcess)
{
    // The master: one worker, this same program, not restarted once it exits.
    builder.Services.AddSharedMemoryMaster(options => options.Workers.Add(new WorkerGroupOptions
    {
        Name = "consumer",
        Count = 1,
        Restart = { Mode = WorkerRestartMode.Never },
    }));
    builder.Services.AddOpenTelemetry()
        .WithTracing(tracing => tracing.AddSource(SharedMemoryTracing.ActivitySourceName).AddConsoleExporter())
        .WithMetrics(metrics => metrics.AddMeter(SharedMemoryMetrics.MeterName).AddConsoleExporter())
        .WithLogging(logging => logging.AddConsoleExporter());
    builder.Services.AddHostedService<StopWhenTheWorkerExits>();
}
else
{
    // The worker: the master's store, through the pipes.
    builder.Services.AddSharedMemoryWorker();
    builder.Services.AddHostedService<StoreCalls>();
}

await builder.Build().RunAsync();

/// <summary>In the master: stops the application once the worker has exited, with its exit code.</summary>
internal sealed class StopWhenTheWorkerExits : BackgroundService
{
    private readonly IHostApplicationLifetime lifetime;

    // Subscribed when the host builds its services, before it starts the worker.
    private readonly Task<WorkerExit> exited;

    public StopWhenTheWorkerExits(SharedMemoryMaster master, IHostApplicationLifetime lifetime)
    {
        this.lifetime = lifetime;
        this.exited = master.WorkerExited.FirstAsync().ToTask();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var exit = await this.exited.WaitAsync(TimeSpan.FromSeconds(60), stoppingToken);
        Console.WriteLine($"consumer: worker {exit.Worker.Id} exited with code {exit.ExitCode}");
        if (exit.ExitCode != 0)
        {
            Environment.ExitCode = 1;
        }

        this.lifetime.StopApplication();
    }
}

/// <summary>In the worker: a few store calls, then the worker stops.</summary>
internal sealed class StoreCalls(ISharedStore store, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            long version = await store.SetAsync("consumer/greeting", "hello", stoppingToken);
            string? greeting = await store.GetAsync<string>("consumer/greeting", stoppingToken);
            var count = await store.IncrementAsync("consumer/count", 1, stoppingToken);
            Console.WriteLine($"consumer: the worker set \"{greeting}\" at version {version} and counted {count.Value}");
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"consumer: the worker's store calls failed: {ex}");
            Environment.ExitCode = 1;
        }

        lifetime.StopApplication();
    }
}
