using System.IO.Pipes;

namespace Rx.SharedMemory.Transport;

/// <summary>A worker's end of the pipes to its master, found through <see cref="PipeEnvironment"/> (the master's end is <see cref="MasterEndPipes"/>).</summary>
internal static partial class WorkerEndPipes
{
    public static bool Available =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(PipeEnvironment.FromMaster))
        && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(PipeEnvironment.ToMaster));

    /// <exception cref="InvalidOperationException">This process was not started by a master.</exception>
    public static (Stream FromMaster, Stream ToMaster, SharedRegion? Region) Open()
    {
        var input = Environment.GetEnvironmentVariable(PipeEnvironment.FromMaster);
        var output = Environment.GetEnvironmentVariable(PipeEnvironment.ToMaster);
        if (string.IsNullOrEmpty(input) || string.IsNullOrEmpty(output))
        {
            throw new InvalidOperationException(
                $"This process was not started by a SharedMemoryMaster: the environment variables {PipeEnvironment.FromMaster} and {PipeEnvironment.ToMaster} are not set.");
        }

        // Cleared so that processes this worker starts do not believe they are workers of the same master.
        Environment.SetEnvironmentVariable(PipeEnvironment.FromMaster, null);
        Environment.SetEnvironmentVariable(PipeEnvironment.ToMaster, null);
        var region = Environment.GetEnvironmentVariable(PipeEnvironment.Region);
        Environment.SetEnvironmentVariable(PipeEnvironment.Region, null);
        var fromMaster = new AnonymousPipeClientStream(PipeDirection.In, input);
        try
        {
            var toMaster = new AnonymousPipeClientStream(PipeDirection.Out, output);
            KeepFromChildren(fromMaster);
            KeepFromChildren(toMaster);
            return (fromMaster, toMaster, SharedRegion.Open(region));
        }
        catch
        {
            fromMaster.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Marks an inherited pipe end close-on-exec: a process this worker starts must not hold the master's pipe open,
    /// or the master would see this worker's end of file only when that process exits.
    /// </summary>
    private static void KeepFromChildren(AnonymousPipeClientStream pipe)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            const int SetDescriptorFlags = 2;
            const int CloseOnExec = 1;
            _ = NativeMethods.fcntl((int)pipe.SafePipeHandle.DangerousGetHandle(), SetDescriptorFlags, CloseOnExec);
        }
    }

    // fcntl(2) is POSIX: the platform analyzer checks that every call is behind an operating-system test.
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    [System.Runtime.Versioning.SupportedOSPlatform("macos")]
    private static partial class NativeMethods
    {
        [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
        internal static partial int fcntl(int fd, int command, int argument);
    }
}
