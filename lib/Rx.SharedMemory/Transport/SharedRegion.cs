using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Rx.SharedMemory.Transport;

/// <summary>
/// Memory the master and one worker both map, through which large values travel instead of through the pipe: a
/// value is copied in by one side and out by the other, with only its place in the region in the JSON message.
/// </summary>
/// <remarks>
/// Layout: a 64-byte header (at 0, the to-worker area's busy flag), then the to-master area, then the to-worker area,
/// each <see cref="AreaBytes"/> long. The to-master area belongs to the worker's batch in flight (one at a time); the
/// to-worker area to the master from when it sets the busy flag until the worker has read the values and clears it.
/// The file is anonymous (it has no name to open or to leave behind, whichever process dies) and reaches the worker as
/// an inherited descriptor. Every access holds a reference on the view, so disposing while a message is
/// being handled unmaps only after it.
/// </remarks>
internal sealed unsafe partial class SharedRegion : IDisposable
{
    private const int HeaderBytes = 64;
    private readonly FileStream file;
    private readonly MemoryMappedFile mapping;
    private readonly MemoryMappedViewAccessor view;

    private SharedRegion(FileStream file, int areaBytes)
    {
        this.file = file;
        this.AreaBytes = areaBytes;
        this.mapping = MemoryMappedFile.CreateFromFile(file, mapName: null, HeaderBytes + (2L * areaBytes), MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
        try
        {
            this.view = this.mapping.CreateViewAccessor(0, HeaderBytes + (2L * areaBytes), MemoryMappedFileAccess.ReadWrite);
        }
        catch
        {
            this.mapping.Dispose();
            throw;
        }
    }

    public enum Area
    {
        ToMaster,
        ToWorker,
    }

    public int AreaBytes { get; }

    /// <summary>Gets what the worker finds in <see cref="PipeEnvironment.Region"/>: the descriptor and the area size.</summary>
    public string EnvironmentValue => $"{this.file.SafeFileHandle.DangerousGetHandle()}:{this.AreaBytes}";

    /// <summary>
    /// Creates a region for a worker about to start: an anonymous memory file (<c>memfd_create</c>), sealed against
    /// resizing once it has its size, so that the worker cannot shrink it under the master's mapping (touching a page
    /// past the end of a shrunk file kills the process). Null where that is not available (not Linux, or too old).
    /// </summary>
    public static SharedRegion? TryCreate(int areaBytes)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        const uint CloseOnExec = 1;
        const uint AllowSealing = 2;
        const int AddSeals = 1033;
        const int SealSeal = 1;
        const int SealShrink = 2;
        const int SealGrow = 4;
        int descriptor;
        try
        {
            descriptor = NativeMethods.memfd_create("rx-sharedmemory", CloseOnExec | AllowSealing);
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }

        if (descriptor < 0)
        {
            return null;
        }

        var handle = new SafeFileHandle(descriptor, ownsHandle: true);
        FileStream? file = null;
        try
        {
            file = new FileStream(handle, FileAccess.ReadWrite, bufferSize: 0);
            file.SetLength(HeaderBytes + (2L * areaBytes));
            if (NativeMethods.fcntl(descriptor, AddSeals, SealShrink | SealGrow | SealSeal) != 0)
            {
                file.Dispose();
                return null;
            }

            return new SharedRegion(file, areaBytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // No shared memory to be had: large values take the pipe.
            file?.Dispose();
            handle.Dispose();
            return null;
        }
    }

    /// <summary>Maps the region a worker inherited, from <see cref="EnvironmentValue"/>; null when there is none or it cannot be mapped.</summary>
    public static SharedRegion? Open(string? environmentValue)
    {
        if (string.IsNullOrEmpty(environmentValue) || !OperatingSystem.IsLinux())
        {
            return null;
        }

        var parts = environmentValue.Split(':');
        if (parts.Length != 2
            || !int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out int descriptor)
            || !int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out int areaBytes)
            || descriptor < 0
            || areaBytes <= 0)
        {
            return null;
        }

        // A descriptor of our own, close-on-exec, to the same file; the inherited one is closed so no child gets it.
        FileStream? file = null;
        try
        {
            file = new FileStream($"/proc/self/fd/{descriptor}", FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
            return new SharedRegion(file, areaBytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Large values take the pipe; the master learns it from hello.
            file?.Dispose();
            return null;
        }
        finally
        {
            new SafeFileHandle(descriptor, ownsHandle: true).Dispose();
        }
    }

    /// <summary>Lets the child about to start inherit the region's descriptor (true), or no longer (false).</summary>
    public void SetInheritable(bool inheritable)
    {
        // A region exists only on Linux (TryCreate); the test tells the platform analyzer so.
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        const int SetDescriptorFlags = 2;
        const int CloseOnExec = 1;
        _ = NativeMethods.fcntl((int)this.file.SafeFileHandle.DangerousGetHandle(), SetDescriptorFlags, inheritable ? 0 : CloseOnExec);
    }

    /// <summary>Copies <paramref name="value"/> into an area at <paramref name="offset"/>; false when it does not fit.</summary>
    public bool TryWrite(Area area, int offset, ReadOnlySpan<byte> value)
    {
        if (offset < 0 || value.Length > this.AreaBytes - offset)
        {
            return false;
        }

        byte* start = this.Acquire();
        try
        {
            value.CopyTo(new Span<byte>(start + this.AreaOffset(area) + offset, value.Length));
            return true;
        }
        finally
        {
            this.view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    /// <summary>Reads <paramref name="length"/> bytes at <paramref name="offset"/> of an area through <paramref name="read"/>.</summary>
    /// <exception cref="ArgumentException">The range is not inside the area.</exception>
    public T Read<T>(Area area, long offset, long length, ReadOnlySpanFunc<T> read)
    {
        if (offset < 0 || length < 0 || offset > this.AreaBytes || length > this.AreaBytes - offset)
        {
            throw new ArgumentException($"The range {offset}+{length} is outside the shared region's {this.AreaBytes}-byte area.");
        }

        byte* start = this.Acquire();
        try
        {
            return read(new ReadOnlySpan<byte>(start + this.AreaOffset(area) + offset, (int)length));
        }
        finally
        {
            this.view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    /// <summary>The master takes the to-worker area for one batch's results; false while the worker still reads the last ones.</summary>
    public bool TryClaimToWorker() => this.ExchangeBusy(1, expected: 0);

    /// <summary>The worker gives the to-worker area back once it has read a batch's values.</summary>
    public void ReleaseToWorker() => this.ExchangeBusy(0, expected: 1);

    public void Dispose()
    {
        this.view.Dispose();
        this.mapping.Dispose();
        this.file.Dispose();
    }

    private bool ExchangeBusy(int value, int expected)
    {
        byte* start = this.Acquire();
        try
        {
            return Interlocked.CompareExchange(ref Unsafe.AsRef<int>(start), value, expected) == expected;
        }
        finally
        {
            this.view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    /// <summary>Takes a reference on the view (released by the caller) and returns its start; throws once it is disposed.</summary>
    private byte* Acquire()
    {
        byte* start = null;
        this.view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        return start + this.view.PointerOffset;
    }

    private long AreaOffset(Area area) => HeaderBytes + (area == Area.ToMaster ? 0 : this.AreaBytes);

    public delegate T ReadOnlySpanFunc<T>(ReadOnlySpan<byte> bytes);

    // Linux only (memfd_create, file seals): the platform analyzer checks that every call is behind OperatingSystem.IsLinux().
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static partial class NativeMethods
    {
        [LibraryImport("libc", SetLastError = true)]
        internal static partial int fcntl(int fd, int command, int argument);

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int memfd_create(string name, uint flags);
    }
}
