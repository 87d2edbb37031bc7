using System.Diagnostics;
using System.IO.Pipes;

namespace Rx.SharedMemory.Transport;

/// <summary>The master's end of the two anonymous pipes to one worker (the worker's end is <see cref="WorkerEndPipes"/>).</summary>
internal sealed class MasterEndPipes : IDisposable
{
    private readonly AnonymousPipeServerStream toWorker = new(PipeDirection.Out, HandleInheritability.Inheritable);
    private readonly AnonymousPipeServerStream fromWorker = new(PipeDirection.In, HandleInheritability.Inheritable);

    /// <param name="region">The shared region for the worker's large values, or null; the pipes own it from now on.</param>
    public MasterEndPipes(SharedRegion? region) => this.Region = region;

    public SharedRegion? Region { get; }

    public Stream ToWorker => this.toWorker;

    public Stream FromWorker => this.fromWorker;

    /// <summary>Tells the child where its ends are.</summary>
    public void AddTo(ProcessStartInfo startInfo)
    {
        startInfo.Environment[PipeEnvironment.FromMaster] = this.toWorker.GetClientHandleAsString();
        startInfo.Environment[PipeEnvironment.ToMaster] = this.fromWorker.GetClientHandleAsString();
        if (this.Region is { } region)
        {
            startInfo.Environment[PipeEnvironment.Region] = region.EnvironmentValue;
            region.SetInheritable(true);
        }
    }

    /// <summary>
    /// Closes the master's copies of the child's ends, once the child has inherited them: otherwise the next child
    /// would inherit them too, and this worker's death would not be seen until that other child died.
    /// </summary>
    public void ReleaseClientEnds()
    {
        this.toWorker.DisposeLocalCopyOfClientHandle();
        this.fromWorker.DisposeLocalCopyOfClientHandle();
        this.Region?.SetInheritable(false);
    }

    /// <summary>
    /// Ends what the master holds of a connection that was wired: the region now; each pipe's end is closed by the
    /// thread that reads or writes it (<see cref="ReaderThread"/>, <see cref="CoalescingWriter"/>) once its read or
    /// write under way returns. Closing them here would block until then, and with a process the worker started that
    /// inherited its descriptors, that is when that process exits: the worker's exit would be reported, and the master
    /// disposed, only then.
    /// </summary>
    public void EndConnection() => this.Region?.Dispose();

    public void Dispose()
    {
        this.toWorker.Dispose();
        this.fromWorker.Dispose();
        this.Region?.Dispose();
    }
}
