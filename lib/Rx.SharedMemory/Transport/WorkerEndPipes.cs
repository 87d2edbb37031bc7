using System.IO.Pipes;
using System.Runtime.CompilerServices;

namespace Rx.SharedMemory.Transport;

/// <summary>A worker's end of the pipes to its master, found through <see cref="PipeEnvironment"/> (the master's end is <see cref="MasterEndPipes"/>).</summary>
internal static partial class WorkerEndPipes
{
    private static readonly Lock ClaimGate = new();

    // What the master passed, taken from the environment once (Claim); guarded by ClaimGate.
    private static bool claimed;
    private static string? fromMaster;
    private static string? toMaster;
    private static string? region;

    public static bool Available
    {
        get
        {
            Claim();
            lock (ClaimGate)
            {
                return !string.IsNullOrEmpty(fromMaster) && !string.IsNullOrEmpty(toMaster);
            }
        }
    }

    /// <summary>
    /// Takes the variables the master set (<see cref="PipeEnvironment"/>) out of the environment, once, and marks the
    /// descriptors they name close-on-exec, as soon as anything of the library runs in the process (a module
    /// initializer; <see cref="SharedMemoryWorker.IsWorkerProcess"/> and <c>ConnectAsync</c> call it too): a process
    /// this one starts, even before it connects, neither believes it is a worker of the same master nor holds the
    /// master's pipes open (the master would see this worker's end of file only when that process exits).
    /// </summary>
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "The pipes must be kept from child processes before the worker's code can start one; it reads and clears three variables and marks up to three descriptors close-on-exec.")]
    internal static void Claim()
    {
        lock (ClaimGate)
        {
            if (claimed)
            {
                return;
            }

            claimed = true;
            fromMaster = Take(PipeEnvironment.FromMaster);
            toMaster = Take(PipeEnvironment.ToMaster);
            region = Take(PipeEnvironment.Region);
        }

        KeepFromChildren(fromMaster);
        KeepFromChildren(toMaster);
        KeepFromChildren(region?.Split(':')[0]);
    }

    /// <exception cref="InvalidOperationException">This process was not started by a master.</exception>
    public static (Stream FromMaster, Stream ToMaster, SharedRegion? Region) Open()
    {
        Claim();
        string? input, output, area;
        lock (ClaimGate)
        {
            (input, output, area) = (fromMaster, toMaster, region);
        }

        if (string.IsNullOrEmpty(input) || string.IsNullOrEmpty(output))
        {
            throw new InvalidOperationException(
                $"This process was not started by a SharedMemoryMaster: the environment variables {PipeEnvironment.FromMaster} and {PipeEnvironment.ToMaster} were not set when it started.");
        }

        var fromMasterStream = new AnonymousPipeClientStream(PipeDirection.In, input);
        try
        {
            return (fromMasterStream, new AnonymousPipeClientStream(PipeDirection.Out, output), SharedRegion.Open(area));
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
