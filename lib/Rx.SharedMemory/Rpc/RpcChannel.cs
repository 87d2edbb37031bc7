using System.IO.Pipelines;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Logging;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Transport;
using StreamJsonRpc;

namespace Rx.SharedMemory.Rpc;

/// <summary>
/// Builds the JSON-RPC connection both ends use: LSP-style <c>Content-Length</c> framing, System.Text.Json with the
/// protocol's source-generated contracts (<see cref="ProtocolFormatter"/>), the protocol's error codes. Each end says
/// how its messages are dispatched and its strings read: the master's choices are in <c>Master/MasterChannel</c>, a
/// worker's in <c>SharedMemoryWorker</c>.
/// </summary>
internal static class RpcChannel
{
    /// <summary>Creates a connection; <paramref name="readFrom"/> is read on a thread of its own (<see cref="ReaderThread"/>).</summary>
    /// <param name="readFrom">The stream the peer writes to.</param>
    /// <param name="writeTo">The stream the peer reads.</param>
    /// <param name="name">The reader thread's name.</param>
    /// <param name="dispatch">Where the peer's requests and notifications run.</param>
    /// <param name="valueOptions">How the connection serializes values: what a batch must use to write them as a single request would.</param>
    /// <param name="outbound">
    /// For the master: counts what waits to be written to the peer, and the next request is read only while that is
    /// within its limit (<see cref="OutboundBuffer"/>). Null for a worker.
    /// </param>
    /// <param name="readStrings">How the peer's strings are read, when not as System.Text.Json reads them; null for its way.</param>
    /// <param name="requestFailed">
    /// For the master: told of a request that failed with an exception the protocol has no code for (answered as an
    /// internal error, <see cref="RpcErrors.ToErrorDetail"/>), with the request's method, to log it.
    /// </param>
    /// <param name="hold">What a message read may hold the next read back with (<see cref="ReadHold"/>); null for none.</param>
    /// <param name="metrics">For the master: where its pauses in reading are counted.</param>
    public static JsonRpc Create(Stream readFrom, Stream writeTo, string name, SynchronizationContext dispatch, out JsonSerializerOptions valueOptions, OutboundBuffer? outbound = null, JsonConverter<string>? readStrings = null, Action<Exception, string?>? requestFailed = null, ReadHold? hold = null, MasterMetrics? metrics = null)
    {
        var formatter = new ProtocolFormatter(readStrings);
        valueOptions = formatter.Options;
        var writer = CoalescingWriter.Start(writeTo, outbound);
        var reader = ReaderThread.Start(readFrom, name);
        var handler = outbound is null && hold is null ? new FramedMessageHandler(writer, reader, formatter) : new BoundedMessageHandler(writer, reader, formatter, outbound, hold ?? new ReadHold(), metrics ?? MasterMetrics.Unowned);

        // No ActivityTracingStrategy here: each end installs its TraceContextStrategy, which starts no activity.
        return new ProtocolJsonRpc(handler, requestFailed) { SynchronizationContext = dispatch };
    }

    /// <summary>
    /// Starts reading the connection outside the caller's execution context: the requests and notifications it
    /// dispatches, for as long as it lives, must not run in the activity of whoever opened it.
    /// </summary>
    public static void StartListening(JsonRpc rpc) => Detached.Start(rpc.StartListening);

    /// <summary>
    /// Observes the connection's completion, so that its failure never surfaces as an unobserved task exception: a
    /// peer killed in the middle of writing a message leaves a truncated frame, and the completion faults while the
    /// owner may already have gone on with the peer's end (a process exit, a disconnection event).
    /// </summary>
    public static void ObserveCompletion(JsonRpc rpc, ILogger logger) =>
        _ = rpc.Completion.ContinueWith(
            static (completion, state) => ((ILogger)state!).ConnectionEndedWithError(completion.Exception),
            logger,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    /// <summary>
    /// Reads the next message only once what the last one held back (<see cref="ReadHold"/>: a message waiting for
    /// observers that are behind) has let go and, for the master, while the answers and notifications not yet written
    /// to the peer are within their limit. A peer that sends requests and does not read the answers then stops being read: the master holds at most
    /// the limit plus one answer for it, and the peer's own writes block once the pipe between them is full.
    /// </summary>
    /// <remarks>
    /// The master runs each request inline as it is read (its dispatch, <c>Master/MasterChannel</c>) and writes its
    /// answer without waiting, so by the time the next read starts, the previous answer is counted. An operation an
    /// engine answers later (Redis) holds the next read until it has run (<c>OperationTable</c>, through the
    /// <see cref="ReadHold"/>): the master never starts the requests of a worker that does not read all at once.
    /// </remarks>
    private sealed class BoundedMessageHandler(PipeWriter writer, ReaderThread reading, IJsonRpcMessageFormatter formatter, OutboundBuffer? outbound, ReadHold hold, MasterMetrics metrics)
        : FramedMessageHandler(writer, reading, formatter)
    {
        protected override ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> ReadCoreAsync(CancellationToken cancellationToken)
        {
            var held = hold.WaitAsync();
            return held.IsCompletedSuccessfully ? this.ReadWhenRoomAsync(cancellationToken) : this.ReadAfterHoldAsync(held, cancellationToken);
        }

        private async ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> ReadAfterHoldAsync(ValueTask held, CancellationToken cancellationToken)
        {
            await held.ConfigureAwait(false);
            return await this.ReadWhenRoomAsync(cancellationToken).ConfigureAwait(false);
        }

        /// <summary>
        /// Reads once the answers not yet written are within their bound. Only a wait for that bound is a pause: the
        /// hold before it (an operation still running, as every Redis one does; a message behind slow observers) is
        /// no sign of a worker that does not read.
        /// </summary>
        private ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> ReadWhenRoomAsync(CancellationToken cancellationToken)
        {
            var room = outbound is null ? default : outbound.WaitForRoomAsync(cancellationToken);
            if (room.IsCompletedSuccessfully)
            {
                return base.ReadCoreAsync(cancellationToken);
            }

            metrics.ReadPauses.Add(1);
            return this.ReadAfterRoomAsync(room, cancellationToken);
        }

        private async ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> ReadAfterRoomAsync(ValueTask room, CancellationToken cancellationToken)
        {
            await room.ConfigureAwait(false);
            return await base.ReadCoreAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Maps exceptions to the protocol's error codes, keeps .NET's and StreamJsonRpc's internals off the wire, and reads
    /// those errors' <c>data</c> back as their types.
    /// </summary>
    private sealed class ProtocolJsonRpc(IJsonRpcMessageHandler handler, Action<Exception, string?>? requestFailed) : JsonRpc(handler)
    {
        protected override StreamJsonRpc.Protocol.JsonRpcError.ErrorDetail CreateErrorDetails(StreamJsonRpc.Protocol.JsonRpcRequest request, Exception exception)
        {
            // Never StreamJsonRpc's default, which puts the exception's type and stack trace in the answer's data.
            var detail = RpcErrors.ToErrorDetail(exception, request.Method);
            if (RpcErrors.IsInternal(detail))
            {
                requestFailed?.Invoke(exception, request.Method);
            }

            return detail;
        }

        protected override ValueTask SendAsync(StreamJsonRpc.Protocol.JsonRpcMessage message, CancellationToken cancellationToken)
        {
            // StreamJsonRpc answers arguments it cannot bind (-32602) itself, with the exceptions that said why, their
            // types and stack traces, as data: the protocol's errors carry no data but a limit's (docs/protocol.md).
            if (message is StreamJsonRpc.Protocol.JsonRpcError { Error: { Data: not null and not LimitErrorData } error })
            {
                error.Data = null;
            }

            // Its message names the master's operations by their compiler-made .NET names; those go too.
            if (message is StreamJsonRpc.Protocol.JsonRpcError { Error: { Code: StreamJsonRpc.Protocol.JsonRpcErrorCode.InvalidParams, Message: { } said } invalid })
            {
                invalid.Message = RpcErrors.PlainInvalidParams(said);
            }

            return base.SendAsync(message, cancellationToken);
        }

        protected override Type? GetErrorDetailsDataType(StreamJsonRpc.Protocol.JsonRpcError error) =>
            error.Error?.Code == (StreamJsonRpc.Protocol.JsonRpcErrorCode)RpcErrorCodes.LimitExceeded ? typeof(LimitErrorData) : base.GetErrorDetailsDataType(error);
    }
}
