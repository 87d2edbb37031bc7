using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// hosted-worker: a generic-host program with AddSharedMemoryWorker and its health check. Reports, one line each: the
/// health before the start, what resolving ISharedStore before the start throws, the health once started (then it
/// sets hosted/&lt;worker id&gt;), the health once the master has gone, and that the application stopped by itself.
/// </summary>
internal static class HostedWorker
{
    public static async Task RunAsync(Report report)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSharedMemoryWorker();
        builder.Services.AddHealthChecks().AddSharedMemoryWorker();
        using var host = builder.Build();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = lifetime.ApplicationStopping.Register(stopping.SetResult);

        report.Line($"before-start {(await health.CheckHealthAsync(timeout.Token)).Status}");
        try
        {
            host.Services.GetRequiredService<ISharedStore>();
            report.Line("store-before-start resolved");
        }
        catch (InvalidOperationException ex)
        {
            report.Line($"store-before-start {ex.GetType().Name}: {ex.Message}");
        }

        await host.StartAsync(timeout.Token);
        report.Line($"started {(await health.CheckHealthAsync(timeout.Token)).Status}");
        var worker = host.Services.GetRequiredService<SharedMemoryWorker>();
        await host.Services.GetRequiredService<ISharedStore>().SetAsync($"hosted/{worker.WorkerId}", "connected", timeout.Token);

        await worker.Completion.WaitAsync(timeout.Token);
        report.Line($"lost {(await health.CheckHealthAsync(timeout.Token)).Status}");
        await stopping.Task.WaitAsync(timeout.Token);
        report.Line("application-stopping");
        await host.StopAsync(timeout.Token);
        report.Line("stopped");
    }
}
