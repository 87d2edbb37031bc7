using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.VisualStudio.Threading;
using Rx.SharedMemory.Transport;
using StreamJsonRpc;

namespace Rx.SharedMemory.Rpc;

/// <summary>Builds the JSON-RPC connection both ends use: LSP-style <c>Content-Length</c> framing, System.Text.Json.</summary>
internal static class RpcChannel
{
    /// <summary>Creates a connection; <paramref name="readFrom"/> is read on a thread of its own (<see cref="ReaderThread"/>).</summary>
    /// <param name="readFrom">The stream the peer writes to.</param>
    /// <param name="writeTo">The stream the peer reads.</param>
    /// <param name="inlineDispatch">
    /// True for the master: requests run on the reader thread as they arrive, one at a time and in order, since its
    /// handlers never block. False for a worker: its observers are user code that may block, even on a call to the
    /// master whose answer this same reader thread must read, so notifications run one at a time, in order, on the
    /// thread pool.
    /// </param>
    /// <param name="name">The reader thread's name.</param>
    /// <param name="valueOptions">How the connection serializes values: what a batch must use to write them as a single request would.</param>
    public static JsonRpc Create(Stream readFrom, Stream writeTo, bool inlineDispatch, string name, out JsonSerializerOptions valueOptions)
    {
        var formatter = new SystemTextJsonFormatter();
        if (inlineDispatch)
        {
            // The master: a key that is not valid UTF-16 is read as sent, for the store to refuse it by name.
            formatter.JsonSerializerOptions = new(formatter.JsonSerializerOptions) { Converters = { new VerbatimStringConverter() } };
        }

        valueOptions = formatter.JsonSerializerOptions;
        var handler = new HeaderDelimitedMessageHandler(CoalescingWriter.Start(writeTo), ReaderThread.Start(readFrom, name), formatter);
        return new ProtocolJsonRpc(handler)
        {
            SynchronizationContext = inlineDispatch ? InlineSynchronizationContext.Instance : new NonConcurrentSynchronizationContext(sticky: false),
        };
    }

    /// <summary>Maps our exceptions to the protocol's error codes, and reads those errors' <c>data</c> back as their types.</summary>
    private sealed class ProtocolJsonRpc(IJsonRpcMessageHandler handler) : JsonRpc(handler)
    {
        protected override StreamJsonRpc.Protocol.JsonRpcError.ErrorDetail CreateErrorDetails(StreamJsonRpc.Protocol.JsonRpcRequest request, Exception exception) =>
            RpcErrors.ToErrorDetail(exception) ?? base.CreateErrorDetails(request, exception);

        protected override Type? GetErrorDetailsDataType(StreamJsonRpc.Protocol.JsonRpcError error) =>
            error.Error?.Code == (StreamJsonRpc.Protocol.JsonRpcErrorCode)RpcErrorCodes.LimitExceeded ? typeof(LimitErrorData) : base.GetErrorDetailsDataType(error);
    }
}
