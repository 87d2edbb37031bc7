using System.Diagnostics;
using Rx.SharedMemory.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A master in a process of its own (the test worker's "redis-master"): it holds a lock, its worker an ephemeral
/// key, and with a seed a second worker writes random keys without end. Killed with its workers when disposed.
/// </summary>
internal sealed partial class RedisMasterProcess : IDisposable
{
    private readonly Process process;
    private readonly string report = Path.Combine(Path.GetTempPath(), $"rxsm-redis-master-{Guid.NewGuid():N}");

    public RedisMasterProcess(RedisStoreOptions store, string key, string lockName, int? seed)
    {
        var startInfo = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        foreach (var argument in (string[])[Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"), "redis-master", this.report, store.Configuration, store.StoreName, key, lockName, this.report + ".worker", .. seed is { } s ? [s.ToString(System.Globalization.CultureInfo.InvariantCulture)] : Array.Empty<string>()])
        {
            startInfo.ArgumentList.Add(argument);
        }

        this.process = Process.Start(startInfo)!;
    }

    public bool Exited => this.process.HasExited;

    /// <summary>SIGKILL to the master and its workers, as when their machine dies.</summary>
    public void Kill() => this.process.Kill(entireProcessTree: true);

    /// <summary>SIGSTOP to the master alone: it renews nothing until <see cref="Resume"/>, as a master cut off or stalled.</summary>
    public void Pause() => this.Signal(19);

    /// <summary>SIGCONT to the master.</summary>
    public void Resume() => this.Signal(18);

    public void Dispose()
    {
        if (!this.process.HasExited)
        {
            this.process.Kill(entireProcessTree: true);
        }

        this.process.WaitForExit();
        this.process.Dispose();
        foreach (var file in new[] { this.report, this.report + ".worker", this.report + ".worker.writer" })
        {
            File.Delete(file);
        }
    }

    private void Signal(int signal)
    {
        // The numbers are Linux's (macOS has SIGSTOP 17, SIGCONT 19).
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Pausing a master process is written for Linux's signal numbers.");
        }

        if (NativeMethods.kill(this.process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({this.process.Id}, {signal}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}.");
        }
    }

    private static partial class NativeMethods
    {
        [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
        internal static partial int kill(int pid, int signal);
    }
}
