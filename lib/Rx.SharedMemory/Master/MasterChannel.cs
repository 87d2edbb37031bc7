using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Transport;
using StreamJsonRpc;

namespace Rx.SharedMemory.Master;

/// <summary>The master's end of a connection to a worker: the shared <see cref="RpcChannel"/>, as the master reads and dispatches.</summary>
internal static class MasterChannel
{
    /// <summary>
    /// Creates the master's end of a connection. Requests run on the reader thread as they arrive, one at a time and in
    /// order (<see cref="InlineSynchronizationContext"/>), since the master's handlers never block; strings are read as
    /// sent (<see cref="VerbatimStringConverter"/>), so that a key that is not valid UTF-16 reaches the store, which
    /// refuses it by name; the next request is read only while what waits to be written is within its limit.
    /// </summary>
    /// <param name="readFrom">The stream the worker writes to.</param>
    /// <param name="writeTo">The stream the worker reads.</param>
    /// <param name="name">The reader thread's name.</param>
    /// <param name="outbound">Counts what waits to be written to the worker.</param>
    /// <param name="requestFailed">Told of a request that failed with an exception the protocol has no code for, to log it.</param>
    /// <param name="hold">Holds the next read back while the worker's last message waits for observers that are behind.</param>
    /// <param name="metrics">Where the master's pauses in reading are counted.</param>
    /// <returns>The connection, not listening yet.</returns>
    public static JsonRpc Create(Stream readFrom, Stream writeTo, string name, OutboundBuffer outbound, Action<Exception, string?> requestFailed, ReadHold hold, MasterMetrics metrics) =>
        RpcChannel.Create(readFrom, writeTo, name, InlineSynchronizationContext.Instance, out _, outbound, new VerbatimStringConverter(), requestFailed, hold, metrics);
}
