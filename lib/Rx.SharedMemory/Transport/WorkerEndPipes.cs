using System.IO.Pipes;
using System.Runtime.CompilerServices;

namespace Rx.SharedMemory.Transport;

/// <summary>A worker's end of the pipes to its master, found through <see cref="PipeEnvironment"/> (the master's end is <see cref="MasterEndPipes"/>).</summary>
internal static partial class WorkerEndPipes
{
    // What the master passed, taken from the environment by Claim, which the runtime runs before any other code of
    // the library: never written after.
    private static string? fromMaster;
    private static string? toMaster;
    private static string? region;

    public static bool Available => !string.IsNullOrEmpty(fromMaster) && !string.IsNullOrEmpty(toMaster);

    /// <summary>
    /// Takes the variables the master set (<see cref="PipeEnvironment"/>) out of the environment and marks the
    /// descriptors they name close-on-exec, as the library's module initializer: the runtime runs it once, before any
    /// other code of the library. A process this one starts, even before it connects, then neither believes it is a
    /// worker of the same master nor holds the master's pipes open (the master would see this worker's end of file only
    /// when that process exits).
    /// </summary>
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "The pipes must be kept from child processes before the worker's code can start one; it reads and clears three variables and marks up to three descriptors close-on-exec.")]
    internal static void Claim()
    {
        fromMaster = Take(PipeEnvironment.FromMaster);
        toMaster = Take(PipeEnvironment.ToMaster);
        region = Take(PipeEnvironment.Region);
        KeepFromChildren(fromMaster);
        KeepFromChildren(toMaster);
        KeepFromChildren(region?.Split(':')[0]);
    }

    /// <exception cref="InvalidOperationException">This process was not started by a master.</exception>
    public static (Stream FromMaster, Stream ToMaster, SharedRegion? Region) Open()
    {
        if (!Available)
        {
            throw new InvalidOperationException(
                $"This process was not started by a SharedMemoryMaster: the environment variables {PipeEnvironment.FromMaster} and {PipeEnvironment.ToMaster} were not set when it started.");
        }

        var fromMasterStream = new AnonymousPipeClientStream(PipeDirection.In, fromMaster!);
        try
        {
            return (fromMasterStream, new AnonymousPipeClientStream(PipeDirection.Out, toMaster!), SharedRegion.Open(region));
        }
        catch
        {
            fromMasterStream.Dispose();
            throw;
        }
    }

    private static string? Take(string variable)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        Environment.SetEnvironmentVariable(variable, null);
        return value;
    }

    /// <summary>Marks an inherited descriptor, given as the master wrote it, close-on-exec; nothing for another form or platform.</summary>
    private static void KeepFromChildren(string? descriptor)
    {
        if ((OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            && int.TryParse(descriptor, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int fd))
        {
            const int SetDescriptorFlags = 2;
            const int CloseOnExec = 1;
            try
            {
                _ = NativeMethods.fcntl(fd, SetDescriptorFlags, CloseOnExec);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                // A C library without fcntl: children may inherit the descriptor, and the library still loads.
            }
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
