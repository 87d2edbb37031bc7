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
            ["SharedMemory:Store:WorkerStartTimeout"] = "00:00:00",
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
        Assert.Contains("SharedMemory:Store:WorkerStartTimeout must be positive; it is 00:00:00.", error.Message, StringComparison.Ordinal);
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

    [Fact]
    public async Task HostedMaster_OnFailure_LeavesAWorkerThatExitedWithZeroStopped_AndRestartsOneThatFailedOrWasKilled()
    {
        var time = new FakeTimeProvider();
        using var logs = new RecordingLoggerFactory();
        using var host = BuildInCode(time, logs, options => options.Workers.Add(this.ExitGroup("onfailure", count: 2, new WorkerRestartOptions
        {
            Mode = WorkerRestartMode.OnFailure,
            InitialDelay = TimeSpan.FromSeconds(10),
            BackoffMultiplier = 2,
        })));
        var master = host.Services.GetRequiredService<SharedMemoryMaster>();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var online = master.WorkerOnline.Take(2).ToArray().RunAsync(this.TimeoutToken);
        await host.StartAsync(this.TimeoutToken);
        var workers = await online;

        // Exit code 0: the worker has finished its work; it is left stopped, and that is no fault.
        var notRestarted = logs.Records.Where(r => r.EventId.Id == 401).FirstAsync().RunAsync(this.TimeoutToken);
        Assert.Equal(0, await this.TellToExitAsync(master, workers[0], 0));
        var record = await notRestarted;
        Assert.Equal(LogLevel.Warning, record.Level);
        Assert.Equal("Rx.SharedMemory.Hosting", record.Category);
        Assert.Equal($"Worker onfailure[0] (pid {workers[0].ProcessId}) exited with code 0; restart mode OnFailure leaves it stopped.", record.Message);
        var finished = (await health.CheckHealthAsync(this.TimeoutToken)).Entries["sharedmemory-master"];
        Assert.Equal(HealthStatus.Healthy, finished.Status);
        Assert.Equal("The shared-memory master runs with 1 of 2 workers online; onfailure[0] finished (exit code 0, not restarted by its restart mode).", finished.Description);

        // Another code: restarted, after the back-off delay.
        var scheduled = logs.Records.Where(r => r.EventId.Id == 400).FirstAsync().RunAsync(this.TimeoutToken);
        Assert.Equal(3, await this.TellToExitAsync(master, workers[1], 3));
        Assert.Contains($"Worker onfailure[1] (pid {workers[1].ProcessId}) exited with code 3; it restarts in 00:00:10", (await scheduled).Message, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Degraded, (await health.CheckHealthAsync(this.TimeoutToken)).Status);
        var restarted = this.FirstAsync(master.WorkerOnline, _ => true);
        await this.AdvanceAndAwaitRestartAsync(time, logs, TimeSpan.FromSeconds(10), restart: 0);

        // Killed (by a signal): restarted too, the delay grown.
        var replacement = await restarted;
        var rescheduled = logs.Records.Where(r => r.EventId.Id == 400).Skip(1).FirstAsync().RunAsync(this.TimeoutToken);
        replacement.Kill();
        Assert.Contains($"Worker onfailure[1] (pid {replacement.ProcessId}) exited with code 137; it restarts in 00:00:20", (await rescheduled).Message, StringComparison.Ordinal);
        await this.AdvanceAndAwaitRestartAsync(time, logs, TimeSpan.FromSeconds(20), restart: 1);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(this.TimeoutToken)).Status);
        Assert.Equal(1, EventIds(logs).Count(id => id == 401));

        await host.StopAsync(this.TimeoutToken);
    }

    [Fact]
    public async Task HostedMaster_Never_LeavesEveryWorkerThatExitsStopped_DegradedWhenItFailed()
    {
        var time = new FakeTimeProvider();
        using var logs = new RecordingLoggerFactory();
        using var host = BuildInCode(time, logs, options => options.Workers.Add(this.ExitGroup("never", count: 2, new WorkerRestartOptions
        {
            Mode = WorkerRestartMode.Never,
            InitialDelay = TimeSpan.FromSeconds(10),
        })));
        var master = host.Services.GetRequiredService<SharedMemoryMaster>();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var online = master.WorkerOnline.Take(2).ToArray().RunAsync(this.TimeoutToken);
        await host.StartAsync(this.TimeoutToken);
        var workers = await online;

        var first = logs.Records.Where(r => r.EventId.Id == 401).FirstAsync().RunAsync(this.TimeoutToken);
        Assert.Equal(0, await this.TellToExitAsync(master, workers[0], 0));
        Assert.Equal($"Worker never[0] (pid {workers[0].ProcessId}) exited with code 0; restart mode Never leaves it stopped.", (await first).Message);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(this.TimeoutToken)).Status);

        var second = logs.Records.Where(r => r.EventId.Id == 401).Skip(1).FirstAsync().RunAsync(this.TimeoutToken);
        workers[1].Kill();
        Assert.Equal(128 + 9, await workers[1].Exited.WaitAsync(this.TimeoutToken));
        Assert.Equal($"Worker never[1] (pid {workers[1].ProcessId}) exited with code 137; restart mode Never leaves it stopped.", (await second).Message);

        // Its supervision has ended with that line: no delay is pending, however far the clock moves.
        time.Advance(TimeSpan.FromDays(1));
        var degraded = (await health.CheckHealthAsync(this.TimeoutToken)).Entries["sharedmemory-master"];
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Equal("never[1] exited with code 137 and is left stopped.", degraded.Description);
        Assert.DoesNotContain(EventIds(logs), id => id is 400 or 403);

        await host.StopAsync(this.TimeoutToken);
    }

    [Fact]
    public async Task HostedMaster_RestartDelays_StopGrowingAtMaxDelay()
    {
        var time = new FakeTimeProvider();
        using var logs = new RecordingLoggerFactory();
        using var host = BuildInCode(time, logs, options => options.Workers.Add(this.ServeGroup("capped", new WorkerRestartOptions
        {
            InitialDelay = TimeSpan.FromSeconds(10),
            BackoffMultiplier = 4,
            MaxDelay = TimeSpan.FromSeconds(25),
            ResetAfter = TimeSpan.FromMinutes(10),
        })));
        var master = host.Services.GetRequiredService<SharedMemoryMaster>();
        await host.StartAsync(this.TimeoutToken);

        // 10 s, then 25 s where 40 s and 160 s would follow.
        await this.KillAndAwaitRestartDelayAsync(master, logs, restart: 0, "00:00:10");
        await this.AdvanceAndAwaitRestartAsync(time, logs, TimeSpan.FromSeconds(10), restart: 0);
        await this.KillAndAwaitRestartDelayAsync(master, logs, restart: 1, "00:00:25");
        await this.AdvanceAndAwaitRestartAsync(time, logs, TimeSpan.FromSeconds(25), restart: 1);
        await this.KillAndAwaitRestartDelayAsync(master, logs, restart: 2, "00:00:25");
        await this.AdvanceAndAwaitRestartAsync(time, logs, TimeSpan.FromSeconds(25), restart: 2);

        await host.StopAsync(this.TimeoutToken);
    }

    [Fact]
    public async Task HostedMaster_RetriesARestartWhoseProgramDoesNotStart_WithGrowingDelays()
    {
        var time = new FakeTimeProvider();
        using var logs = new RecordingLoggerFactory();
        var group = this.ServeGroup("respawn", new WorkerRestartOptions { InitialDelay = TimeSpan.FromSeconds(10), BackoffMultiplier = 2 });
        var program = group.Program;
        using var host = BuildInCode(time, logs, options => options.Workers.Add(group));
        var master = host.Services.GetRequiredService<SharedMemoryMaster>();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        await host.StartAsync(this.TimeoutToken);

        // The program goes away (a deployment half done): the restart's start fails, and is tried again later.
        group.Program = Path.Combine(this.reports, "no-such-program");
        await this.KillAndAwaitRestartDelayAsync(master, logs, restart: 0, "00:00:10");
        var failed = logs.Records.Where(r => r.EventId.Id == 402).FirstAsync().RunAsync(this.TimeoutToken);
        time.Advance(TimeSpan.FromSeconds(10));
        var record = await failed;
        Assert.Equal(LogLevel.Error, record.Level);
        Assert.Equal("Worker respawn[0] did not start again; the next try is in 00:00:20.", record.Message);
        Assert.IsType<SharedMemoryWorkerStartException>(record.Exception);
        Assert.Equal(HealthStatus.Degraded, (await health.CheckHealthAsync(this.TimeoutToken)).Status);

        // Back again: the next try, a longer delay on, starts it.
        group.Program = program;
        await this.AdvanceAndAwaitRestartAsync(time, logs, TimeSpan.FromSeconds(20), restart: 0);
        Assert.False(Assert.Single(master.Workers).Exited.IsCompleted);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(this.TimeoutToken)).Status);
        Assert.Equal(1, EventIds(logs).Count(id => id == 402));

        await host.StopAsync(this.TimeoutToken);
    }

    [Fact]
    public async Task HostedMaster_WhoseWorkerProgramCannotStart_FailsToStart_AndDisposesTheMasterWithTheWorkersStartedSoFar()
    {
        using var logs = new RecordingLoggerFactory();
        using var host = BuildInCode(TimeProvider.System, logs, options =>
        {
            options.Workers.Add(this.ServeGroup("fine", new WorkerRestartOptions()));
            options.Workers.Add(new WorkerGroupOptions { Name = "broken", Program = Path.Combine(this.reports, "no-such-program") });
        });
        var master = host.Services.GetRequiredService<SharedMemoryMaster>();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var online = this.FirstAsync(master.WorkerOnline, _ => true);

        await Assert.ThrowsAsync<SharedMemoryWorkerStartException>(() => host.StartAsync(this.TimeoutToken));

        // The failed start has disposed of the master: the worker of the first group is gone already.
        var started = await online;
        Assert.True(started.Exited.IsCompleted, "The worker started before the failure outlived the failed start.");
        Assert.False(IsRunning(started.ProcessId), $"Worker process {started.ProcessId} outlived the failed start.");
        Assert.Empty(master.Workers);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => master.SpawnWorkerAsync(WorkerStartInfo.ForAssembly("none.dll"), this.TimeoutToken));
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync(this.TimeoutToken)).Status);
    }

    [Fact]
    public async Task HostedMaster_WhenAWorkersSupervisionFails_IsUnhealthy_AndLogsIt()
    {
        var time = new BreakableClock();
        using var logs = new RecordingLoggerFactory();
        using var host = BuildInCode(time, logs, options => options.Workers.Add(this.ServeGroup("unwatched", new WorkerRestartOptions())));
        var master = host.Services.GetRequiredService<SharedMemoryMaster>();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        await host.StartAsync(this.TimeoutToken);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(this.TimeoutToken)).Status);

        // A fault of the supervisor itself (here its clock's): the worker is no longer restarted, and it says so.
        time.Broken = true;
        var failed = logs.Records.Where(r => r.EventId.Id == 404).FirstAsync().RunAsync(this.TimeoutToken);
        Assert.Single(master.Workers).Kill();
        var record = await failed;
        Assert.Equal(LogLevel.Error, record.Level);
        Assert.Equal("Supervising worker unwatched[0] failed: it is no longer restarted, and the master's health check says so.", record.Message);
        Assert.IsType<InvalidOperationException>(record.Exception);
        var unhealthy = (await health.CheckHealthAsync(this.TimeoutToken)).Entries["sharedmemory-master"];
        Assert.Equal(HealthStatus.Unhealthy, unhealthy.Status);
        Assert.Equal("unwatched[0] is no longer supervised (see event 404).", unhealthy.Description);

        await host.StopAsync(this.TimeoutToken);
    }

    [Fact]
    public async Task HostedMaster_UsesASharedMemoryMasterRegisteredBefore_AndStopsItWithTheHost()
    {
        using var logs = new RecordingLoggerFactory();
        var own = new SharedMemoryMaster(new SharedMemoryOptions { MaxEntries = 7 });
        try
        {
            using var host = BuildInCode(TimeProvider.System, logs, options => options.Workers.Add(this.ServeGroup("own", new WorkerRestartOptions())), services => services.AddSingleton(own));
            Assert.Same(own, host.Services.GetRequiredService<SharedMemoryMaster>());
            Assert.Same(own.Store, host.Services.GetRequiredService<ISharedStore>());

            await host.StartAsync(this.TimeoutToken);
            var worker = Assert.Single(own.Workers);
            Assert.Equal(HealthStatus.Healthy, (await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(this.TimeoutToken)).Status);

            await host.StopAsync(this.TimeoutToken);
            Assert.True(worker.Exited.IsCompleted);
            await Assert.ThrowsAsync<ObjectDisposedException>(() => own.SpawnWorkerAsync(WorkerStartInfo.ForAssembly("none.dll"), this.TimeoutToken));
        }
        finally
        {
            await own.DisposeAsync();
        }
    }

    /// <summary>
    /// A host whose master is configured in code, with <paramref name="time"/> as the container's clock, its log lines
    /// kept in <paramref name="logs"/>, and the master's health check; <paramref name="before"/> registers services
    /// ahead of the master.
    /// </summary>
    private static IHost BuildInCode(TimeProvider time, RecordingLoggerFactory logs, Action<SharedMemoryMasterHostOptions> configure, Action<IServiceCollection>? before = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(logs);
        builder.Services.AddSingleton(time);
        before?.Invoke(builder.Services);
        builder.Services.AddSharedMemoryMaster(configure);
        builder.Services.AddHealthChecks().AddSharedMemoryMaster();
        return builder.Build();
    }

    /// <summary>The ids of the events logged so far.</summary>
    private static List<int> EventIds(RecordingLoggerFactory logs)
    {
        var ids = new List<int>();

        // The records replay at once, on this thread, as it subscribes.
        using (logs.Records.Subscribe(r => ids.Add(r.EventId.Id)))
        {
            return ids;
        }
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

    /// <summary>A group of workers that stay connected until told to exit (<see cref="TellToExitAsync"/>).</summary>
    private WorkerGroupOptions ExitGroup(string name, int count, WorkerRestartOptions restart)
    {
        var group = new WorkerGroupOptions { Name = name, Count = count, Program = Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"), Restart = restart };
        group.Arguments.Add("exit-when-told");
        group.Arguments.Add(Path.Combine(this.reports, $"{name}.json"));
        return group;
    }

    /// <summary>Tells a worker of an <see cref="ExitGroup"/> to exit with <paramref name="exitCode"/>, and returns the code it exited with.</summary>
    private async Task<int> TellToExitAsync(SharedMemoryMaster master, IWorker worker, int exitCode)
    {
        await master.Store.SetAsync($"exit/{worker.Id}", exitCode, this.TimeoutToken);
        return await worker.Exited.WaitAsync(this.TimeoutToken);
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

    /// <summary>The system clock, whose timers fail once <see cref="Broken"/> is set: a fault for the supervisor to meet.</summary>
    private sealed class BreakableClock : TimeProvider
    {
        private volatile bool broken;

        public bool Broken
        {
            get => this.broken;
            set => this.broken = value;
        }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            this.broken ? throw new InvalidOperationException("The clock's timers are broken.") : base.CreateTimer(callback, state, dueTime, period);
    }
}
