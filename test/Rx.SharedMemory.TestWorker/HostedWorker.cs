using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// hosted-worker: a generic-host program with AddSharedMemoryWorker and its health check. Reports, one line each: the
/// health before the start, once ISharedStore is resolved (which connects), once started (then it sets
/// hosted/&lt;worker id&gt; through the same store), once the master has gone, and that the application stopped by itself.
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

        // As a hosted service's constructor would: before the start, resolving the store connects.
        var store = host.Services.GetRequiredService<ISharedStore>();
        report.Line($"resolved {(await health.CheckHealthAsync(timeout.Token)).Status}");
        await host.StartAsync(timeout.Token);
        report.Line($"started {(await health.CheckHealthAsync(timeout.Token)).Status}");
        var worker = host.Services.GetRequiredService<SharedMemoryWorker>();
        await store.SetAsync($"hosted/{worker.WorkerId}", "connected", timeout.Token);

        await worker.Completion.WaitAsync(timeout.Token);
        report.Line($"lost {(await health.CheckHealthAsync(timeout.Token)).Status}");
        await stopping.Task.WaitAsync(timeout.Token);
        report.Line("application-stopping");
        await host.StopAsync(timeout.Token);
        report.Line("stopped");
    }
}
