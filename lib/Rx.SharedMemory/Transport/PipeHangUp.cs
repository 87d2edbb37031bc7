using System.IO.Pipes;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Rx.SharedMemory.Transport;

/// <summary>
/// Tells whether the writing end of a pipe has closed (its writer exited, was killed, or closed it) without reading
/// it, so bytes still unread are not consumed: poll(2) reports hang-up on the reading end once no writer remains.
/// </summary>
internal static partial class PipeHangUp
{
    // poll(2)'s flags, the same on Linux and macOS.
    private const short Readable = 0x1;
    private const short Error = 0x8;
    private const short HangUp = 0x10;
    private const short Invalid = 0x20;

    /// <summary>
    /// A check of the pipe <paramref name="stream"/> reads from, true once its writing end has closed; null where it
    /// cannot be told: a stream that is not a pipe, or Windows.
    /// </summary>
    public static Func<bool>? For(Stream stream)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) || stream is not PipeStream pipe)
        {
            return null;
        }

        SafePipeHandle handle;
        try
        {
            handle = pipe.SafePipeHandle;
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
        {
            return null;
        }

        // The test again inside: the analyzer (CA1416) does not carry the one above into the lambda.
        return () => (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) && HasHungUp(handle);
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    [System.Runtime.Versioning.SupportedOSPlatform("macos")]
    private static bool HasHungUp(SafePipeHandle handle)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            // Asked for readability, not hang-up alone: Linux reports hang-up whatever is asked, macOS only for a
            // descriptor polled for reading. Bytes waiting are not a hang-up: only the flags below are.
            var descriptor = new PollDescriptor { Descriptor = (int)handle.DangerousGetHandle(), Events = Readable };
            int ready = NativeMethods.poll(ref descriptor, 1, 0);
            return ready > 0 && (descriptor.ReturnedEvents & (HangUp | Error | Invalid)) != 0;
        }
        catch (ObjectDisposedException)
        {
            // This end is closed: the connection is over anyway.
            return true;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>struct pollfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct PollDescriptor
    {
        public int Descriptor;
        public short Events;
        public short ReturnedEvents;
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    [System.Runtime.Versioning.SupportedOSPlatform("macos")]
    private static partial class NativeMethods
    {
        [LibraryImport("libc")]
        internal static partial int poll(ref PollDescriptor descriptors, nuint count, int timeoutMs);
    }
}
