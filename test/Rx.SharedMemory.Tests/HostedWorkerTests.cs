using System.Diagnostics;
using System.IO.Pipes;
using System.Reactive.Linq;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Rx.SharedMemory.Tests;

/// <summary>A worker program run by a generic host (AddSharedMemoryWorker): its ISharedStore and its connection's health.</summary>
public sealed class HostedWorkerTests() : WorkerProcessTestBase(new SharedMemoryOptions { WorkerShutdownTimeout = UnexpectedTimeout })
{
    [Fact]
    public async Task HostedWorker_ConnectsWhenItsStoreIsResolved_IsHealthyWhileConnected_AndUnhealthyAndStoppingOnceItsMasterGoes()
    {
        // Subscribed before the spawn, so that the worker's write cannot be missed.
        var written = this.Master.Changes.Where(c => c.Key.StartsWith("hosted/", StringComparison.Ordinal)).Replay();
        using var connection = written.Connect();
        var told = this.Master.Messages.Replay();
        using var listening = told.Connect();
        var spawned = await this.SpawnAsync("hosted-worker");
        var change = await this.FirstAsync(written, c => c.Key == $"hosted/{spawned.Worker.Id}");
        Assert.Equal("connected", change.Value.GetString());

        // The master commits the set before it answers: it goes only once the worker says it has the answer.
        var set = await this.FirstAsync(told, m => m.WorkerId == spawned.Worker.Id);
        Assert.Equal("set", set.Deserialize<string>());

        // The master goes: the worker's application stops by itself, and its process exits.
        await this.Master.DisposeAsync();
        var report = await this.ReportAfterExitAsync(spawned);

        Assert.Equal(["before-start Unhealthy", "resolved Healthy", "started Healthy", "lost Unhealthy", "application-stopping", "stopped"], report);
    }

    /// <summary>
    /// A call still waiting for its answer when the master goes fails with SharedMemoryDisconnectedException, and the
    /// program, which then leaves through its host's synchronous Dispose (that disposes the worker), exits. The call
    /// used to fail on the worker's pipe reader thread, inside StreamJsonRpc's handling of the end of the connection:
    /// the program's code after it ran there, and the Dispose waited for that handling to finish, so the process lived
    /// on until the master killed it.
    /// </summary>
    [Fact]
    public async Task HostedWorker_WithACallInFlightWhenItsMasterGoes_FailsTheCall_AndExits()
    {
        // Held by the master, so that the worker's request for it waits for its answer.
        var held = await this.Master.Store.AcquireLockAsync("hosted/held", TimeSpan.FromMinutes(5), this.TimeoutToken);
        var told = this.Master.Messages.Replay();
        using var listening = told.Connect();
        var spawned = await this.SpawnAsync("hosted-worker-call-lost");
        var waiting = await this.FirstAsync(told, m => m.WorkerId == spawned.Worker.Id);
        Assert.Equal("waiting", waiting.Deserialize<string>());

        await this.Master.DisposeAsync();
        var report = await this.ReportAfterExitAsync(spawned);

        Assert.Equal(["lost"], report);
        GC.KeepAlive(held);
    }

    /// <summary>
    /// A master that goes while its worker's host is still starting (a hosted service's start takes a while) stops the
    /// application once it has started, with exit code 0: a stop requested during the start cancelled the start, which
    /// failed, and the process crashed.
    /// </summary>
    [Fact]
    public async Task HostedWorker_WhoseMasterGoesWhileItsHostStarts_StopsOnceStarted_AndExitsZero()
    {
        var report = await this.ReportOfMasterGoneWhileStartingAsync("hosted-worker-slow-start");

        Assert.Equal(["started", "application-stopping", "stopped"], report);
    }

    /// <summary>
    /// A worker's host whose start waits for something only the master would give is not left waiting once the master
    /// has gone: its start is cancelled after the grace, and the program goes on to its end.
    /// </summary>
    [Fact]
    public async Task HostedWorker_WhoseStartWaitsForItsMaster_HasItsStartCancelledOnceTheMasterGoes()
    {
        var report = await this.ReportOfMasterGoneWhileStartingAsync("hosted-worker-start-waits");

        Assert.Equal(["start-cancelled"], report);
    }

    /// <summary>Spawns a hosted worker program, disposes the master once its host says it is starting, and returns its report.</summary>
    private async Task<string[]> ReportOfMasterGoneWhileStartingAsync(string program)
    {
        var told = this.Master.Messages.Replay();
        using var listening = told.Connect();
        var spawned = await this.SpawnAsync(program);
        var starting = await this.FirstAsync(told, m => m.WorkerId == spawned.Worker.Id);
        Assert.Equal("starting", starting.Deserialize<string>());

        await this.Master.DisposeAsync();
        return await this.ReportAfterExitAsync(spawned);
    }

    /// <summary>
    /// A host stopped while its worker still waits for the master's answer to the handshake stops, and its process exits:
    /// the stop ends the connection attempt. The test plays a master that reads the handshake and never answers.
    /// </summary>
    [Fact]
    public async Task HostedWorker_StoppedBeforeItsMasterAnswersTheHandshake_Stops_AndExits()
    {
        using var toWorker = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.Inheritable);
        using var fromWorker = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
        var report = Path.Combine(Path.GetTempPath(), $"rxsm-unanswered-{Guid.NewGuid():N}.txt");
        var startInfo = WorkerStartInfo.ForAssembly(Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"), "hosted-worker-unanswered", report);
        startInfo.Environment["RX_SHAREDMEMORY_PIPE_IN"] = toWorker.GetClientHandleAsString();
        startInfo.Environment["RX_SHAREDMEMORY_PIPE_OUT"] = fromWorker.GetClientHandleAsString();
        startInfo.RedirectStandardInput = true;
        using var process = Process.Start(startInfo)!;
        toWorker.DisposeLocalCopyOfClientHandle();
        fromWorker.DisposeLocalCopyOfClientHandle();
        try
        {
            // The worker asks for the handshake; nothing answers it.
            var sent = new MemoryStream();
            var buffer = new byte[4096];
            while (!Encoding.UTF8.GetString(sent.ToArray()).Contains("\"hello\"", StringComparison.Ordinal))
            {
                int read = await fromWorker.ReadAsync(buffer, this.TimeoutToken);
                Assert.True(read > 0, $"The worker closed its pipe before it asked for the handshake; it wrote: {Encoding.UTF8.GetString(sent.ToArray())}");
                await sent.WriteAsync(buffer.AsMemory(0, read), this.TimeoutToken);
            }

            // Then the program gives up its start, and its host stops.
            await process.StandardInput.WriteLineAsync("give up");
            await process.StandardInput.FlushAsync(this.TimeoutToken);
            await process.WaitForExitAsync(this.TimeoutToken);
            Assert.Equal(["start-cancelled", "stopped"], await File.ReadAllLinesAsync(report, this.TimeoutToken));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            File.Delete(report);
        }
    }

    [Fact]
    public async Task HostedWorker_OutsideAWorkerProcess_IsUnhealthy_AndFailsToStartSayingWhy()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSharedMemoryWorker();
        builder.Services.AddHealthChecks().AddSharedMemoryWorker(failureStatus: HealthStatus.Degraded);
        using var host = builder.Build();

        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(this.TimeoutToken);
        Assert.Equal(HealthStatus.Degraded, health.Status);
        Assert.Contains("not connected", health.Entries["sharedmemory-worker"].Description, StringComparison.Ordinal);
        var error = Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredService<ISharedStore>());
        Assert.Contains("RX_SHAREDMEMORY_PIPE_IN", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(this.TimeoutToken));
    }

    [Fact]
    public async Task HostedWorker_WithInvalidSettings_FailsToStart_NamingEachSetting()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSharedMemoryWorker(options =>
        {
            options.Connection.SubscriberQueueCapacity = 0;
            options.Connection.SubscriberQueueMaxBytes = -1;
        });
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => host.StartAsync(this.TimeoutToken));
        Assert.Contains("SharedMemoryWorkerHostOptions:Connection:SubscriberQueueCapacity must be positive; it is 0.", error.Message, StringComparison.Ordinal);
        Assert.Contains("SharedMemoryWorkerHostOptions:Connection:SubscriberQueueMaxBytes must be positive; it is -1.", error.Message, StringComparison.Ordinal);
    }
}
