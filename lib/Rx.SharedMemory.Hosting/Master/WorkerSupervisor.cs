using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rx.SharedMemory.Hosting.Logging;

namespace Rx.SharedMemory.Hosting.Master;

/// <summary>
/// Starts the configured workers with the host, restarts those that exit while it runs (with back-off), and stops
/// them, with the master, when it stops.
/// </summary>
internal sealed class WorkerSupervisor(SharedMemoryMaster master, IOptions<SharedMemoryMasterHostOptions> options, ILoggerFactory? loggerFactory, TimeProvider? timeProvider) : IHostedService
{
    private readonly ILogger logger = (loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger("Rx.SharedMemory.Hosting");
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;
    private readonly CancellationTokenSource stopping = new();
    private readonly List<WorkerSlot> slots = [];
    private readonly List<Task> loops = [];

    // 0 before the start, 1 running, 2 stopped: health checks read it from any thread.
    private int phase;

    public SharedMemoryMaster Master => master;

    public bool IsRunning => Volatile.Read(ref this.phase) == 1;

    /// <summary>Gets the workers' places; complete once the host has started.</summary>
    public IReadOnlyList<WorkerSlot> Slots => this.slots;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            // One at a time and awaited: the host has started when every worker is online, and a program that cannot
            // start at all (a wrong path) fails the start instead of restarting forever.
            foreach (var group in options.Value.Workers)
            {
                for (int index = 0; index < group.Count; index++)
                {
                    var worker = await master.SpawnWorkerAsync(StartInfo(group), cancellationToken).ConfigureAwait(false);
                    this.slots.Add(new WorkerSlot(group, index, worker));
                }
            }
        }
        catch
        {
            // The host does not stop a service whose start failed: the workers started so far go with the master.
            Volatile.Write(ref this.phase, 2);
            await master.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        if (Interlocked.CompareExchange(ref this.phase, 1, 0) != 0)
        {
            // Stopped while it started: the stop has disposed of the master, or will.
            return;
        }

        foreach (var slot in this.slots)
        {
            this.loops.Add(this.SuperviseAsync(slot, this.stopping.Token));
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref this.phase, 2) == 2)
        {
            return;
        }

        try
        {
            await this.stopping.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(this.loops).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            this.logger.SupervisorStopFailed(ex);
        }
        finally
        {
            // Closes every worker's pipes, waits WorkerShutdownTimeout for them to exit and kills the rest: whatever
            // happened above, no worker outlives the host.
            await master.DisposeAsync().ConfigureAwait(false);
            this.stopping.Dispose();
        }
    }

    /// <summary>Builds how a worker of <paramref name="group"/> starts.</summary>
    internal static ProcessStartInfo StartInfo(WorkerGroupOptions group)
    {
        string[] arguments = [.. group.Arguments];
        var program = group.Program;
        ProcessStartInfo startInfo;
        if (string.IsNullOrEmpty(program))
        {
            startInfo = WorkerStartInfo.ForThisProgram(arguments);
        }
        else
        {
            bool isAssembly = program.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
            if (!Path.IsPathRooted(program) && (isAssembly || program.Contains('/', StringComparison.Ordinal) || program.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal)))
            {
                // A service's current directory is rarely its own folder: configured paths are the application's.
                program = Path.Combine(AppContext.BaseDirectory, program);
            }

            startInfo = isAssembly ? WorkerStartInfo.ForAssembly(program, arguments) : new ProcessStartInfo(program, arguments) { UseShellExecute = false };
        }

        if (!string.IsNullOrEmpty(group.WorkingDirectory))
        {
            startInfo.WorkingDirectory = group.WorkingDirectory;
        }

        foreach (var (name, value) in group.Environment)
        {
            startInfo.Environment[name] = value;
        }

        return startInfo;
    }

    private async Task SuperviseAsync(WorkerSlot slot, CancellationToken stopping)
    {
        var restart = slot.Group.Restart;
        int exitsInARow = 0;

        // Taken before anyone hears of the start, so that a clock moved on that news counts as run time.
        long started = this.time.GetTimestamp();
        try
        {
            while (true)
            {
                var worker = slot.Worker;
                int exitCode = await worker.Exited.WaitAsync(stopping).ConfigureAwait(false);
                if (restart.Mode == WorkerRestartMode.Never || (restart.Mode == WorkerRestartMode.OnFailure && exitCode == 0))
                {
                    slot.Set(WorkerSlotState.Stopped, worker, exitCode);
                    this.logger.WorkerNotRestarted(slot.Group.Name, slot.Index, worker.ProcessId, exitCode, restart.Mode);
                    return;
                }

                exitsInARow = this.time.GetElapsedTime(started) >= restart.ResetAfter ? 1 : exitsInARow + 1;
                var delay = restart.DelayAfter(exitsInARow);

                // The timer exists before anyone hears of it, so that a clock advanced on that news moves it.
                var wait = Task.Delay(delay, this.time, stopping);
                slot.Set(WorkerSlotState.Restarting, worker, exitCode);
                this.logger.WorkerRestartScheduled(slot.Group.Name, slot.Index, worker.ProcessId, exitCode, delay, exitsInARow);
                await wait.ConfigureAwait(false);
                (var next, exitsInARow) = await this.RespawnAsync(slot, exitsInARow, stopping).ConfigureAwait(false);
                started = this.time.GetTimestamp();
                slot.Set(WorkerSlotState.Running, next, exitCode);
                this.logger.WorkerRestarted(slot.Group.Name, slot.Index, next.Id, next.ProcessId);
            }
        }
        catch (Exception ex) when (stopping.IsCancellationRequested && ex is OperationCanceledException or ObjectDisposedException)
        {
            // The host stops: the master stops the workers.
        }
        catch (Exception ex)
        {
            // Never silent: a slot nobody watches any more must not look healthy.
            slot.Set(WorkerSlotState.Failed, slot.Worker, slot.LastExitCode);
            this.logger.SupervisionFailed(ex, slot.Group.Name, slot.Index);
        }
    }

    /// <summary>
    /// Starts the slot's worker again, trying on with growing delays while its program does not start; returns it with
    /// the exits in a row, failed starts counted.
    /// </summary>
    private async Task<(IWorker Worker, int ExitsInARow)> RespawnAsync(WorkerSlot slot, int exitsInARow, CancellationToken stopping)
    {
        while (true)
        {
            try
            {
                return (await master.SpawnWorkerAsync(StartInfo(slot.Group), stopping).ConfigureAwait(false), exitsInARow);
            }
            // A program that cannot be started comes as SharedMemoryWorkerStartException, a SharedMemoryException.
            catch (Exception ex) when (!stopping.IsCancellationRequested && ex is not ObjectDisposedException && ex is SharedMemoryException or InvalidOperationException or IOException)
            {
                exitsInARow++;
                var delay = slot.Group.Restart.DelayAfter(exitsInARow);
                var wait = Task.Delay(delay, this.time, stopping);
                this.logger.WorkerRestartFailed(ex, slot.Group.Name, slot.Index, delay);
                await wait.ConfigureAwait(false);
            }
        }
    }
}
