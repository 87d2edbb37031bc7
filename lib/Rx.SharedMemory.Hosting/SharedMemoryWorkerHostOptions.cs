namespace Rx.SharedMemory.Hosting;

/// <summary>The settings of a worker program run by the host (<c>AddSharedMemoryWorker</c>).</summary>
public sealed class SharedMemoryWorkerHostOptions
{
    /// <summary>Gets or sets the connection's settings (the bounds of what waits for the worker's observers).</summary>
    public SharedMemoryWorkerOptions Connection { get; set; } = new();

    /// <summary>
    /// Gets or sets a value indicating whether the application stops when the connection to the master is lost.
    /// Default true: a worker without its master has no store, and its master, if it comes back, starts workers of its own.
    /// </summary>
    public bool StopApplicationOnDisconnect { get; set; } = true;
}
