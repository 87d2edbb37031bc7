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
        var handler = outbound is null && hold is null ? new HeaderDelimitedMessageHandler(writer, reader, formatter) : new BoundedMessageHandler(writer, reader, formatter, outbound, hold ?? new ReadHold(), metrics ?? MasterMetrics.Unowned);

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
    /// observers that are behind) has let go and, for the master, once the last request's answer is written and while
    /// the answers and notifications not yet written to the peer are within their limit. A peer that sends requests and
    /// does not read the answers then stops being read: the master holds at most the limit plus one answer for it, and
    /// the peer's own writes block once the pipe between them is full.
    /// </summary>
    /// <remarks>
    /// The in-memory engine answers a request inline as it is read; an engine that answers later (Redis) would let the
    /// master read and start every request in the pipe before any answer was counted, and hold all their answers. So
    /// the master reads a worker's next message only once the last request's answer is flushed to the outbound pipe:
    /// one request at a time, as docs/protocol.md says. A <c>lock</c> request is the exception: it may wait for long,
    /// and the messages after it (an <c>unlock</c> among them) must not wait behind it; its answer is small.
    /// </remarks>
    private sealed class BoundedMessageHandler(PipeWriter writer, PipeReader reader, IJsonRpcMessageFormatter formatter, OutboundBuffer? outbound, ReadHold hold, MasterMetrics metrics)
        : HeaderDelimitedMessageHandler(writer, reader, formatter)
    {
        private readonly Lock answerGate = new();

        // Guarded by answerGate. Set by the read loop when it reads a request it answers before reading on; the write
        // of the answer with that id marks it written, and the flush after it lets the read loop go on.
        private bool answerAwaited;
        private RequestId awaitedId;
        private bool answerWritten;

        // Guarded by answerGate: made only when the read loop has to wait for the answer (the engine answers later).
        private TaskCompletionSource? answerFlushed;

        protected override ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> ReadCoreAsync(CancellationToken cancellationToken)
        {
            // Waiting for the last answer is not a pause in reading (the read_pauses counter): it is one request at a time.
            var answered = this.AnswerFlushedAsync();
            return answered.IsCompletedSuccessfully ? this.ReadWhenFreeAsync(cancellationToken) : this.ReadAfterAnswerAsync(answered, cancellationToken);
        }

        protected override void Write(StreamJsonRpc.Protocol.JsonRpcMessage content, CancellationToken cancellationToken)
        {
            base.Write(content, cancellationToken);
            RequestId? answers = content switch
            {
                StreamJsonRpc.Protocol.JsonRpcResult result => result.RequestId,
                StreamJsonRpc.Protocol.JsonRpcError error => error.RequestId,
                _ => null,
            };
            if (answers is { } id)
            {
                lock (this.answerGate)
                {
                    if (this.answerAwaited && id.Equals(this.awaitedId))
                    {
                        this.answerWritten = true;
                    }
                }
            }
        }

        protected override async ValueTask FlushAsync(CancellationToken cancellationToken)
        {
            await base.FlushAsync(cancellationToken).ConfigureAwait(false);
            TaskCompletionSource? flushed = null;
            lock (this.answerGate)
            {
                if (this.answerAwaited && this.answerWritten)
                {
                    this.answerAwaited = false;
                    flushed = this.answerFlushed;
                    this.answerFlushed = null;
                }
            }

            flushed?.TrySetResult();
        }

        private ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> ReadWhenFreeAsync(CancellationToken cancellationToken)
        {
            var held = hold.WaitAsync();
            var room = held.IsCompletedSuccessfully && outbound is not null ? outbound.WaitForRoomAsync(cancellationToken) : default;
            if (!held.IsCompletedSuccessfully || !room.IsCompletedSuccessfully)
            {
                return this.ReadWhenRoomAsync(held, cancellationToken);
            }

            var reading = base.ReadCoreAsync(cancellationToken);
            if (!reading.IsCompletedSuccessfully)
            {
                return this.AwaitAnswerAfterAsync(reading);
            }

#pragma warning disable VSTHRD103 // Completed: its result is there, and reading it does not block.
            this.AwaitAnswer(reading.Result);
#pragma warning restore VSTHRD103
            return reading;
        }

        /// <summary>Completes once the last request read has its answer flushed: at once, without allocating, when it has.</summary>
        private ValueTask AnswerFlushedAsync()
        {
            if (outbound is null)
            {
                return default;
            }

            lock (this.answerGate)
            {
                if (!this.answerAwaited)
                {
                    return default;
                }

                this.answerFlushed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return new ValueTask(this.answerFlushed.Task);
            }
        }

        /// <summary>Notes a request read whose answer the next read waits for: every one but a <c>lock</c>, on the master.</summary>
        private void AwaitAnswer(StreamJsonRpc.Protocol.JsonRpcMessage? message)
        {
            if (outbound is not null && message is StreamJsonRpc.Protocol.JsonRpcRequest { IsResponseExpected: true } request && request.Method != RpcMethods.Lock)
            {
                lock (this.answerGate)
                {
                    (this.answerAwaited, this.awaitedId, this.answerWritten, this.answerFlushed) = (true, request.RequestId, false, null);
                }
            }
        }

        private async ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> ReadAfterAnswerAsync(ValueTask answered, CancellationToken cancellationToken)
        {
            await answered.AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
            return await this.ReadWhenFreeAsync(cancellationToken).ConfigureAwait(false);
        }

        private async ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> AwaitAnswerAfterAsync(ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> reading)
        {
            var message = await reading.ConfigureAwait(false);
            this.AwaitAnswer(message);
            return message;
        }

        private async ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> ReadWhenRoomAsync(ValueTask held, CancellationToken cancellationToken)
        {
            metrics.ReadPauses.Add(1);
            await held.ConfigureAwait(false);
            if (outbound is not null)
            {
                await outbound.WaitForRoomAsync(cancellationToken).ConfigureAwait(false);
            }

            var message = await base.ReadCoreAsync(cancellationToken).ConfigureAwait(false);
            this.AwaitAnswer(message);
            return message;
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
