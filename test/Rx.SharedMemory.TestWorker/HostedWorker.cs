using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// hosted-worker: a generic-host program with AddSharedMemoryWorker and its health check. Reports, one line each: the
/// health before the start, once ISharedStore is resolved (which connects), once started (then it sets
/// hosted/&lt;worker id&gt; through the same store, and says "set" in a message once it has the answer), once the master
/// has gone, and that the application stopped by itself.
/// </summary>
internal static class HostedWorker
{
    public static async Task RunAsync(Report report)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        using var host = BuildWorkerHost(services => services.AddHealthChecks().AddSharedMemoryWorker());
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

        // Once the set has its answer: the master may go, with nothing of this worker's in flight.
        await worker.SendAsync("set", timeout.Token);
        await worker.Completion.WaitAsync(timeout.Token);
        report.Line($"lost {(await health.CheckHealthAsync(timeout.Token)).Status}");
        await stopping.Task.WaitAsync(timeout.Token);
        report.Line("application-stopping");
        await host.StopAsync(timeout.Token);
        report.Line("stopped");
    }

    /// <summary>
    /// hosted-worker-slow-start: the same program with a hosted service whose start takes a while: it says "starting" in
    /// a message, waits for the master to go, then for 200 ms more of start (its own work, cut short only by a cancelled
    /// start). The application must still stop by itself once started, and exit 0: reports "started",
    /// "application-stopping", "stopped".
    /// </summary>
    public static async Task RunSlowStartAsync(Report report)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        using var host = BuildWorkerHost(services => services.AddHostedService<SlowStart>());
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = lifetime.ApplicationStopping.Register(stopping.SetResult);
        await host.StartAsync(timeout.Token);
        report.Line("started");
        await stopping.Task.WaitAsync(timeout.Token);
        report.Line("application-stopping");
        await host.StopAsync(timeout.Token);
        report.Line("stopped");
    }

    private sealed class SlowStart(SharedMemoryWorker worker) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            await worker.SendAsync("starting", cancellationToken);
            await worker.Completion.WaitAsync(TimeSpan.FromSeconds(150), CancellationToken.None);
            await Task.Delay(200, cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>
    /// hosted-worker-start-waits: the same program with a hosted service whose start waits for something only its master
    /// would give, ended only by its start's token: once the master has gone, the host's start is cancelled
    /// (<c>StartGrace</c> later) rather than left waiting. Reports "start-cancelled".
    /// </summary>
    public static async Task RunStartWaitsAsync(Report report)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        using var host = BuildWorkerHost(services => services.AddHostedService<StartWaitingForever>());
        try
        {
            await host.StartAsync(timeout.Token);
            report.Line("started");
        }
        catch (OperationCanceledException) when (!timeout.IsCancellationRequested)
        {
            report.Line("start-cancelled");
        }
    }

    private sealed class StartWaitingForever(SharedMemoryWorker worker) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            await worker.SendAsync("starting", cancellationToken);
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>
    /// hosted-worker-call-lost: the same program with a call still waiting for its answer when the master goes: a lock
    /// the master holds. Says "waiting" in a message once the call is on its way, reports "lost" when the call fails,
    /// and leaves through its host's synchronous Dispose (the using of a program's top level), which disposes the
    /// worker: the process must then exit.
    /// </summary>
    public static async Task RunCallLostAsync(Report report)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        using var host = BuildWorkerHost();
        await host.StartAsync(timeout.Token);
        var store = host.Services.GetRequiredService<ISharedStore>();
        var worker = host.Services.GetRequiredService<SharedMemoryWorker>();

        // The lock's request is written before the message, and waits for its answer from the moment it is sent.
        var waiting = store.AcquireLockAsync("hosted/held", TimeSpan.FromMinutes(5), timeout.Token).AsTask();
        await worker.SendAsync("waiting", timeout.Token);
        try
        {
            await using var acquired = await waiting;
            report.Line("acquired");
        }
        catch (SharedMemoryDisconnectedException)
        {
            report.Line("lost");
        }
    }

    /// <summary>
    /// hosted-worker-unanswered: the same program started by a master that never answers the handshake. Its start gives
    /// up when the test, having read the handshake's request, writes a line to its standard input, and its stop must
    /// end the connection attempt still waiting: reports "start-cancelled", then "stopped", or "stop-timed-out" if the
    /// stop ran out its own 30 s.
    /// </summary>
    public static async Task RunUnansweredAsync(Report report)
    {
        using var host = BuildWorkerHost();
        using (var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(150)))
        {
            var told = Task.Run(async () =>
            {
                await Console.In.ReadLineAsync(giveUp.Token);
                await giveUp.CancelAsync();
            });
            try
            {
                await host.StartAsync(giveUp.Token);
                report.Line("started");
            }
            catch (OperationCanceledException)
            {
                report.Line("start-cancelled");
            }

            await told.WaitAsync(TimeSpan.FromSeconds(10));
        }

        using var stopLimit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await host.StopAsync(stopLimit.Token);
        report.Line(stopLimit.IsCancellationRequested ? "stop-timed-out" : "stopped");
    }

    /// <summary>A generic host with AddSharedMemoryWorker, and what <paramref name="more"/> adds.</summary>
    private static IHost BuildWorkerHost(Action<IServiceCollection>? more = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSharedMemoryWorker();
        more?.Invoke(builder.Services);
        return builder.Build();
    }
}
