namespace Rx.SharedMemory.Hosting;

/// <summary>Which exits of a worker, while its host runs, make the master start it again.</summary>
public enum WorkerRestartMode
{
    /// <summary>Every exit: the worker is meant to run as long as the host.</summary>
    Always,

    /// <summary>An exit with a code other than 0, or by a signal; a worker that exits with 0 has finished its work.</summary>
    OnFailure,

    /// <summary>None: a worker that exits stays gone.</summary>
    Never,
}
