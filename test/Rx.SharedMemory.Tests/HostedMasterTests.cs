using System.Diagnostics;
using System.Reactive.Linq;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Rx.SharedMemory.Hosting;

namespace Rx.SharedMemory.Tests;

/// <summary>A master run by a generic host (AddSharedMemoryMaster): real worker processes, started, restarted and stopped with it.</summary>
public sealed class HostedMasterTests : TestBase, IDisposable
{
    private readonly string reports = Directory.CreateTempSubdirectory("rxsm-hosted-").FullName;

    public void Dispose() => Directory.Delete(this.reports, recursive: true);

    [Fact]
    public async Task HostedMaster_ServesItsStore_RestartsAWorkerKilledWithSigkill_AndStopsEveryWorkerWithTheHost()
    {
        using var host = BuildFromConfiguration(new()
        {
            ["SharedMemory:Store:MaxEntries"] = "1000",
            ["SharedMemory:Workers:0:Name"] = "serving",
            ["SharedMemory:Workers:0:Count"] = "2",
            // Relative: taken from the application's folder, where the test worker is copied.
            ["SharedMemory:Workers:0:Program"] = "Rx.SharedMemory.TestWorker.dll",
            ["SharedMemory:Workers:0:Arguments:0"] = "serve",
            ["SharedMemory:Workers:0:Arguments:1"] = Path.Combine(this.reports, "serve.json"),
            ["SharedMemory:Workers:0:Restart:InitialDelay"] = "00:00:00.050",
        });
        var master = host.Services.GetRequiredService<SharedMemoryMaster>();
        Assert.Same(master.Store, host.Services.GetRequiredService<ISharedStore>());
        Assert.Equal(1000, host.Services.GetRequiredService<IOptions<SharedMemoryMasterHostOptions>>().Value.Store.MaxEntries);

        await host.StartAsync(this.TimeoutToken);
        var started = master.Workers.ToArray();
        Assert.Equal(2, started.Length);
        await host.Services.GetRequiredService<ISharedStore>().SetAsync("hosted/a", 1, this.TimeoutToken);
        Assert.Equal(1, await master.Store.GetAsync<int>("hosted/a", this.TimeoutToken));

        // Subscribed before the kill, so that the restart cannot be missed; IWorker.Kill sends SIGKILL.
        var restarted = this.FirstAsync(master.WorkerOnline, _ => true);
        started[0].Kill();
        Assert.Equal(128 + 9, await started[0].Exited.WaitAsync(this.TimeoutToken));
        var replacement = await restarted;
        Assert.DoesNotContain(replacement.Id, started.Select(w => w.Id));

        int[] processIds = [.. started.Select(w => w.ProcessId), replacement.ProcessId];
        await host.StopAsync(this.TimeoutToken);
        Assert.Empty(master.Workers);
        Assert.All(processIds, pid => Assert.False(IsRunning(pid), $"Worker process {pid} outlived the host."));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => master.SpawnWorkerAsync(WorkerStartInfo.ForAssembly("none.dll"), this.TimeoutToken));
    }

    [Fact]
    public async Task HostedMaster_TakesItsMeterFromTheHostsFactory()
    {
        using var host = BuildFromConfiguration(new() { ["SharedMemory:Store:MaxEntries"] = "10" });
        var master = host.Services.GetRequiredService<SharedMemoryMaster>();

        Assert.Same(host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), master.Metrics.Meter.Scope);
        Assert.Equal(SharedMemoryMetrics.MeterName, master.Metrics.Meter.Name);

        // The master got a copy: the bound options, a singleton others may read, are not changed.
        Assert.Null(host.Services.GetRequiredService<IOptions<SharedMemoryMasterHostOptions>>().Value.Store.MeterFactory);
        await master.DisposeAsync();
    }

    [Fact]
    public async Task HostedMaster_RestartsWithGrowingDelays_StartingOverAfterALongRun_AndItsHealthSaysSo()
    {
        var time = new FakeTimeProvider();
        using var logs = new RecordingLoggerFactory();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(logs);
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddSharedMemoryMaster(options => options.Workers.Add(this.ServeGroup("backoff", new WorkerRestartOptions
        {
            InitialDelay = TimeSpan.FromSeconds(10),
            BackoffMultiplier = 3,
            MaxDelay = TimeSpan.FromSeconds(60),
            ResetAfter = TimeSpan.FromMinutes(1),
        })));
        builder.Services.AddHealthChecks().AddSharedMemoryMaster();
        using var host = builder.Build();
        var master = host.Services.GetRequiredService<SharedMemoryMaster>();
        var health = host.Services.GetRequiredService<HealthCheckService>();

        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync(this.TimeoutToken)).Status);
        await host.StartAsync(this.TimeoutToken);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(this.TimeoutToken)).Status);

        // Two short runs in a row: 10 s, then 30 s. The fake clock moves only when the test moves it.
        await this.KillAndAwaitRestartDelayAsync(master, logs, restart: 0, "00:00:10");
        var degraded = await health.CheckHealthAsync(this.TimeoutToken);
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Contains("backoff[0] exited with code 137 and is restarting", degraded.Entries["sharedmemory-master"].Description, StringComparison.Ordinal);
        await this.AdvanceAndAwaitRestartAsync(time, logs, TimeSpan.FromSeconds(10), restart: 0);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(this.TimeoutToken)).Status);

        await this.KillAndAwaitRestartDelayAsync(master, logs, restart: 1, "00:00:30");
        await this.AdvanceAndAwaitRestartAsync(time, logs, TimeSpan.FromSeconds(30), restart: 1);

        // A run longer than ResetAfter starts the delays over.
        time.Advance(TimeSpan.FromMinutes(2));
        await this.KillAndAwaitRestartDelayAsync(master, logs, restart: 2, "00:00:10");
        await this.AdvanceAndAwaitRestartAsync(time, logs, TimeSpan.FromSeconds(10), restart: 2);

        await host.StopAsync(this.TimeoutToken);
        var stopped = await health.CheckHealthAsync(this.TimeoutToken);
        Assert.Equal(HealthStatus.Unhealthy, stopped.Status);
        Assert.Contains("not running", stopped.Entries["sharedmemory-master"].Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostedMaster_WithInvalidSettings_FailsToStart_NamingEachSettingByItsKey()
    {
        using var host = BuildFromConfiguration(new()
        {
            ["SharedMemory:Store:MaxEntries"] = "0",
            ["SharedMemory:Workers:0:Name"] = "",
            ["SharedMemory:Workers:0:Count"] = "-1",
            ["SharedMemory:Workers:1:Name"] = "twice",
            ["SharedMemory:Workers:1:Program"] = "Rx.SharedMemory.TestWorker.dll",
            ["SharedMemory:Workers:1:Restart:BackoffMultiplier"] = "0.5",
            ["SharedMemory:Workers:2:Name"] = "twice",
            ["SharedMemory:Workers:2:Count"] = "0",
            ["SharedMemory:Workers:2:Restart:InitialDelay"] = "00:00:00",
            ["SharedMemory:Workers:2:Restart:MaxDelay"] = "60.00:00:00",
        });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(this.TimeoutToken));
        Assert.Contains("SharedMemory:Store:MaxEntries must be positive; it is 0.", error.Message, StringComparison.Ordinal);
        Assert.Contains("SharedMemory:Workers:0:Name must be set", error.Message, StringComparison.Ordinal);
        Assert.Contains("SharedMemory:Workers:0:Count is -1", error.Message, StringComparison.Ordinal);
        Assert.Contains("SharedMemory:Workers:1:Restart:BackoffMultiplier is 0.5", error.Message, StringComparison.Ordinal);
        Assert.Contains("SharedMemory:Workers:2:Name 'twice' is used by another group", error.Message, StringComparison.Ordinal);
        Assert.Contains("SharedMemory:Workers:2:Restart:InitialDelay is 00:00:00; it must be more than zero", error.Message, StringComparison.Ordinal);
        Assert.Contains("SharedMemory:Workers:2:Restart:MaxDelay is 60.00:00:00;", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostedMaster_ConfiguredInCode_NamesAWrongSettingByItsOptionsPath()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSharedMemoryMaster(options => options.Workers.Add(new WorkerGroupOptions
        {
            Name = "late",
            Restart = new WorkerRestartOptions { InitialDelay = TimeSpan.FromSeconds(5), MaxDelay = TimeSpan.FromSeconds(1) },
        }));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(this.TimeoutToken));
        Assert.Contains("SharedMemoryMasterHostOptions:Workers:0:Restart:MaxDelay is 00:00:01; it must be at least InitialDelay (00:00:05)", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A host whose master's settings are <paramref name="settings"/>, bound from the section SharedMemory.</summary>
    private static IHost BuildFromConfiguration(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddSharedMemoryMaster(builder.Configuration.GetSection("SharedMemory"));
        return builder.Build();
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private WorkerGroupOptions ServeGroup(string name, WorkerRestartOptions restart)
    {
        var group = new WorkerGroupOptions { Name = name, Program = Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"), Restart = restart };
        group.Arguments.Add("serve");
        group.Arguments.Add(Path.Combine(this.reports, $"{name}.json"));
        return group;
    }

    /// <summary>Kills the group's one worker with SIGKILL and waits for the supervisor to log the delay before its restart number <paramref name="restart"/>.</summary>
    private async Task KillAndAwaitRestartDelayAsync(SharedMemoryMaster master, RecordingLoggerFactory logs, int restart, string delay)
    {
        var scheduled = logs.Records.Where(r => r.EventId.Id == 400).Skip(restart).FirstAsync().RunAsync(this.TimeoutToken);
        var worker = Assert.Single(master.Workers);
        worker.Kill();
        var record = await scheduled;
        Assert.Equal(LogLevel.Warning, record.Level);
        Assert.True(record.Message.Contains($"exited with code 137; it restarts in {delay}", StringComparison.Ordinal), record.Message);
    }

    /// <summary>Moves the clock by the back-off delay and waits for the restart it lets through.</summary>
    private async Task AdvanceAndAwaitRestartAsync(FakeTimeProvider time, RecordingLoggerFactory logs, TimeSpan delay, int restart)
    {
        var restarted = logs.Records.Where(r => r.EventId.Id == 403).Skip(restart).FirstAsync().RunAsync(this.TimeoutToken);
        time.Advance(delay - TimeSpan.FromTicks(1));
        Assert.False(restarted.IsCompleted, "The worker restarted before its delay was over.");
        time.Advance(TimeSpan.FromTicks(1));
        await restarted;
    }
}
