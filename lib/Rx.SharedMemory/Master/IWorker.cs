using System.Diagnostics;

namespace Rx.SharedMemory;

/// <summary>A worker process spawned by a <see cref="SharedMemoryMaster"/>.</summary>
public interface IWorker
{
    /// <summary>Gets the worker's id, unique within its master, counting from 1 in spawn order.</summary>
    int Id { get; }

    /// <summary>Gets the worker's process id, known from the start and kept after the process exits.</summary>
    int ProcessId { get; }

    /// <summary>
    /// Gets the worker's process. It stays usable after the worker exits (for its exit code, or output the caller
    /// redirected) for as long as you hold this <see cref="IWorker"/>: the master keeps no reference to a worker once
    /// it has reported its exit, and disposes only the processes of the workers it stops when it is disposed.
    /// </summary>
    Process Process { get; }

    /// <summary>
    /// Gets a task that completes with the process's exit code once the worker has exited and the master has
    /// released everything it held (its subscriptions).
    /// </summary>
    Task<int> Exited { get; }

    /// <summary>Kills the worker's process at once; <see cref="Exited"/> completes when the master has seen it go.</summary>
    void Kill();
}
