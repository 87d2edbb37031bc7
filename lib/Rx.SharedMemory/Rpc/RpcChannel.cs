using Microsoft.VisualStudio.Threading;
using StreamJsonRpc;

namespace Rx.SharedMemory.Rpc;

/// <summary>Builds the JSON-RPC connection both ends use: LSP-style <c>Content-Length</c> framing, System.Text.Json.</summary>
internal static class RpcChannel
{
    public static JsonRpc Create(Stream readFrom, Stream writeTo)
    {
        var formatter = new SystemTextJsonFormatter();
        var handler = new HeaderDelimitedMessageHandler(writeTo, readFrom, formatter);
        return new ProtocolJsonRpc(handler)
        {
            // Requests and notifications from the peer run one at a time, in the order they arrived: a worker's
            // pipelined writes commit in the order it sent them, and a worker sees its changes in version order.
            SynchronizationContext = new NonConcurrentSynchronizationContext(sticky: false),
        };
    }

    /// <summary>Reads the <c>data</c> of our own error codes as their types, so that exceptions arrive whole.</summary>
    private sealed class ProtocolJsonRpc(IJsonRpcMessageHandler handler) : JsonRpc(handler)
    {
        protected override Type? GetErrorDetailsDataType(StreamJsonRpc.Protocol.JsonRpcError error) =>
            error.Error?.Code == (StreamJsonRpc.Protocol.JsonRpcErrorCode)RpcErrorCodes.LimitExceeded ? typeof(LimitErrorData) : base.GetErrorDetailsDataType(error);
    }
}
