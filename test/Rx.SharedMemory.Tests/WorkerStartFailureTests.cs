using System.ComponentModel;
using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.Tests;

/// <summary>Workers that do not come online, with real processes: what <see cref="SharedMemoryMaster.SpawnWorkerAsync"/> says of each.</summary>
public sealed class WorkerStartFailureTests : WorkerProcessTestBase
{
    private static string TestWorker => Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll");

    [Fact]
    public async Task SpawnWorker_ProgramThatCannotBeStarted_ThrowsStartException_WithTheSystemsError()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"rxsm-no-such-program-{Guid.NewGuid():N}");
        var startInfo = new ProcessStartInfo(missing) { UseShellExecute = false, ArgumentList = { "one", "two words" } };

        var error = await Assert.ThrowsAsync<SharedMemoryWorkerStartException>(() => this.Master.SpawnWorkerAsync(startInfo, this.TimeoutToken));

        Assert.IsType<Win32Exception>(error.InnerException);
        Assert.Equal(missing, error.FileName);
        Assert.Equal("one \"two words\"", error.Arguments);
        Assert.Null(error.ProcessId);
        Assert.Null(error.ExitCode);
        Assert.Empty(error.StandardErrorTail);
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.Contains("could not be started", error.Message, StringComparison.Ordinal);
        Assert.Empty(this.Master.Workers);
        Assert.False(startInfo.RedirectStandardError);
    }

    [Fact]
    public async Task SpawnWorker_ProgramThatExitsAtOnce_ThrowsStartException_WithItsExitCodeAndItsLastLinesOfStandardError()
    {
        var exits = this.Master.WorkerExited.Replay();
        using var recording = exits.Connect();

        // 30 lines: the tail keeps the last 20.
        var startInfo = WorkerStartInfo.ForAssembly(TestWorker, "exit-at-once", "-", "3", "30");
        var error = await Assert.ThrowsAsync<SharedMemoryWorkerStartException>(() => this.Master.SpawnWorkerAsync(startInfo, this.TimeoutToken));

        Assert.Equal(3, error.ExitCode);
        Assert.Equal(Enumerable.Range(11, 20).Select(i => $"exit-at-once: line {i} of 30"), error.StandardErrorTail);
        Assert.Equal(startInfo.FileName, error.FileName);
        Assert.EndsWith("exit-at-once - 3 30", error.Arguments, StringComparison.Ordinal);
        Assert.NotNull(error.ProcessId);
        Assert.Null(error.InnerException);
        Assert.Contains("exited with code 3 before it connected", error.Message, StringComparison.Ordinal);
        Assert.Contains("exit-at-once: line 30 of 30", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("exit-at-once: line 10 of 30", error.Message, StringComparison.Ordinal);

        // The start info is handed back as it was given: a second spawn with it is captured the same way.
        Assert.False(startInfo.RedirectStandardError);
        var exit = await exits.FirstAsync().ToTask(this.TimeoutToken);
        Assert.Equal((error.ProcessId, 3), (exit.Worker.ProcessId, exit.ExitCode));
    }

    [Fact]
    public async Task SpawnWorker_CallerThatRedirectsStandardError_ReadsItThemselves_AndTheTailIsEmpty()
    {
        var startInfo = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardError = true, ArgumentList = { "-c", "echo mine >&2; exit 4" } };

        var error = await Assert.ThrowsAsync<SharedMemoryWorkerStartException>(() => this.Master.SpawnWorkerAsync(startInfo, this.TimeoutToken));

        Assert.Equal(4, error.ExitCode);
        Assert.Empty(error.StandardErrorTail);
        Assert.True(startInfo.RedirectStandardError);
    }

    [Fact]
    public async Task SpawnWorker_ProgramThatNeverConnects_IsKilledAfterTheStartTimeout_AndThrowsStartException_WithItsStandardError()
    {
        await using var master = new SharedMemoryMaster(new SharedMemoryOptions { WorkerStartTimeout = TimeSpan.FromSeconds(2) });
        var exits = master.WorkerExited.Replay();
        using var recording = exits.Connect();

        // A shell, not the test worker: it writes its line within milliseconds, long before the short timeout, where
        // a .NET program on a loaded machine could still be starting.
        var startInfo = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, ArgumentList = { "-c", "echo 'not connecting' >&2; exec sleep 300" } };
        var error = await Assert.ThrowsAsync<SharedMemoryWorkerStartException>(() => master.SpawnWorkerAsync(startInfo, this.TimeoutToken));

        Assert.IsType<TimeoutException>(error.InnerException);
        Assert.Null(error.ExitCode);
        Assert.Equal(["not connecting"], error.StandardErrorTail);
        Assert.Contains("did not connect within 00:00:02; it was killed", error.Message, StringComparison.Ordinal);

        // Killed: its exit is reported.
        var exit = await exits.FirstAsync().ToTask(this.TimeoutToken);
        Assert.Equal(error.ProcessId, exit.Worker.ProcessId);
        Assert.True(exit.Worker.Process.HasExited);
    }

    /// <summary>
    /// A worker in another language that exits before it connects, leaving a process it started with its descriptors
    /// (a shell's background job inherits them): the start fails with its exit code and its last lines, once its
    /// standard error has ended or 2 s have passed, not when that process ends.
    /// </summary>
    [Fact]
    public async Task SpawnWorker_ProgramThatExitsLeavingAChildWithItsPipes_FailsWithItsExitCode_WithoutWaitingForTheChild()
    {
        await using var master = new SharedMemoryMaster(new SharedMemoryOptions { WorkerStartTimeout = TimeSpan.FromSeconds(50) });
        string duration = Sleepers.NewDuration();
        var startInfo = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, ArgumentList = { "-c", $"sleep {duration} & echo \"child $!\" >&2; exit 3" } };
        try
        {
            var error = await Assert.ThrowsAsync<SharedMemoryWorkerStartException>(() => master.SpawnWorkerAsync(startInfo, this.TimeoutToken));

            Assert.Equal(3, error.ExitCode);
            Assert.Contains("exited with code 3 before it connected", error.Message, StringComparison.Ordinal);
            Assert.Equal([$"child {Assert.Single(Sleepers.Find(duration))}"], error.StandardErrorTail);
        }
        finally
        {
            Sleepers.Kill(duration);
        }
    }

    [Fact]
    public async Task SpawnWorker_CancelledWhileWaiting_ThrowsOperationCanceled_AndKillsTheProcess()
    {
        var exits = this.Master.WorkerExited.Replay();
        using var recording = exits.Connect();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(this.TimeoutToken);

        // Cancelled while the spawn waits for a program that never connects (the start takes milliseconds).
        cancel.CancelAfter(TimeSpan.FromSeconds(2));
        var startInfo = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, ArgumentList = { "-c", "exec sleep 300" } };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => this.Master.SpawnWorkerAsync(startInfo, cancel.Token));

        var exit = await exits.FirstAsync().ToTask(this.TimeoutToken);
        Assert.True(exit.Worker.Process.HasExited);
        Assert.Empty(this.Master.Workers);
    }

    [Fact]
    public async Task WorkersStandardError_ReachesTheMastersOwn_BeforeAndAfterTheyConnect()
    {
        // The master runs in a process of its own, so that its standard error can be read whole.
        var report = Path.Combine(Path.GetTempPath(), $"rxsm-stderr-{Guid.NewGuid():N}.txt");
        var startInfo = WorkerStartInfo.ForAssembly(TestWorker, "stderr-master", report);
        startInfo.RedirectStandardError = true;
        using var process = Process.Start(startInfo)!;
        string standardError;
        try
        {
            standardError = await process.StandardError.ReadToEndAsync(this.TimeoutToken);
            await process.WaitForExitAsync(this.TimeoutToken);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        var lines = await File.ReadAllLinesAsync(report, this.TimeoutToken);
        File.Delete(report);
        Assert.True(process.ExitCode == 0, $"The master exited with {process.ExitCode}:\n{standardError}");
        Assert.Equal(["online exited 0", "exit code 3", "tail exit-at-once: line 1 of 2|exit-at-once: line 2 of 2"], lines);
        var written = standardError.ReplaceLineEndings("\n").Split('\n');
        Assert.Contains("written-after-connecting", written);
        Assert.Contains("exit-at-once: line 1 of 2", written);
        Assert.Contains("exit-at-once: line 2 of 2", written);
    }
}
