namespace Rx.SharedMemory.Transport;

/// <summary>
/// How a worker finds its pipes: the master puts the inherited handles (file descriptor numbers on Unix) of the two
/// anonymous pipes into these environment variables of the worker's process.
/// </summary>
internal static class PipeEnvironment
{
    /// <summary>The handle the worker reads from (the master writes to it).</summary>
    public const string FromMaster = "RX_SHAREDMEMORY_PIPE_IN";

    /// <summary>The handle the worker writes to (the master reads from it).</summary>
    public const string ToMaster = "RX_SHAREDMEMORY_PIPE_OUT";

    /// <summary>The shared region for large values (<see cref="SharedRegion"/>), when the master made one: <c>descriptor:areaBytes</c>.</summary>
    public const string Region = "RX_SHAREDMEMORY_REGION";
}
