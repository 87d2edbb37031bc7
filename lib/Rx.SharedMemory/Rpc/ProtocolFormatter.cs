using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Rx.SharedMemory.Protocol;
using StreamJsonRpc;
using StreamJsonRpc.Reflection;

namespace Rx.SharedMemory.Rpc;

/// <summary>
/// The protocol's JSON-RPC messages in UTF-8 JSON (docs/protocol.md), through System.Text.Json with the contracts of
/// <see cref="ProtocolJsonContext"/>: no reflection and no code made at run time, so a connection is safe under
/// trimming and Native AOT. It writes what StreamJsonRpc's <c>SystemTextJsonFormatter</c> wrote with default options
/// (members in the same order, the same escaping), so the wire is the same for every peer.
/// </summary>
/// <remarks>
/// Only the protocol's own types travel: an argument, result or error data of any other type fails as one that cannot
/// be serialized. StreamJsonRpc's marshalled objects (streams, <see cref="IProgress{T}"/>, proxies) are not supported.
/// </remarks>
internal sealed class ProtocolFormatter : IJsonRpcMessageTextFormatter
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Creates a formatter.</summary>
    /// <param name="readStrings">How the peer's strings are read, when not as System.Text.Json reads them; null for its way.</param>
    public ProtocolFormatter(JsonConverter<string>? readStrings = null)
    {
        var options = new JsonSerializerOptions { TypeInfoResolver = ProtocolJsonContext.Default };
        if (readStrings is not null)
        {
            options.Converters.Add(readStrings);
        }

        options.MakeReadOnly();
        this.Options = options;
    }

    /// <summary>Gets the options arguments, results and error data are written and read with.</summary>
    public JsonSerializerOptions Options { get; }

    /// <inheritdoc/>
    public Encoding Encoding
    {
        get => Utf8;
        set => throw new NotSupportedException("The protocol is UTF-8 only.");
    }

    /// <inheritdoc/>
    public StreamJsonRpc.Protocol.JsonRpcMessage Deserialize(ReadOnlySequence<byte> contentBuffer) => this.Deserialize(contentBuffer, Utf8);

    /// <inheritdoc/>
    public StreamJsonRpc.Protocol.JsonRpcMessage Deserialize(ReadOnlySequence<byte> contentBuffer, Encoding encoding)
    {
        if (encoding is not UTF8Encoding)
        {
            throw new NotSupportedException("The protocol is UTF-8 only.");
        }

        // The document may point into the pipe's buffer, which the handler keeps until the message says it is done
        // (IJsonRpcMessageBufferManager): by then every argument, result and error data has been read into its type.
        var document = JsonDocument.Parse(contentBuffer);
        try
        {
            return this.Read(document);
        }
        catch
        {
            document.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    [Obsolete("StreamJsonRpc traces through its tracing callbacks; formatters may throw here.")]
    public object GetJsonText(StreamJsonRpc.Protocol.JsonRpcMessage message) => throw new NotSupportedException();

    /// <inheritdoc/>
    public void Serialize(IBufferWriter<byte> bufferWriter, StreamJsonRpc.Protocol.JsonRpcMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        try
        {
            using var writer = new Utf8JsonWriter(bufferWriter);
            writer.WriteStartObject();
            if (message.Version != "1.0")
            {
                writer.WriteString("jsonrpc"u8, message.Version);
            }

            switch (message)
            {
                case StreamJsonRpc.Protocol.JsonRpcRequest request:
                    WriteId(writer, request.RequestId);
                    writer.WriteString("method"u8, request.Method);
                    this.WriteArguments(writer, request);
                    if (request.TraceParent is not null)
                    {
                        writer.WriteString("traceparent"u8, request.TraceParent);
                    }

                    if (request.TraceState is not null)
                    {
                        writer.WriteString("tracestate"u8, request.TraceState);
                    }

                    break;
                case StreamJsonRpc.Protocol.JsonRpcResult result:
                    WriteId(writer, result.RequestId);
                    writer.WritePropertyName("result"u8);
                    this.WriteValue(writer, result.Result, result.ResultDeclaredType);
                    break;
                case StreamJsonRpc.Protocol.JsonRpcError { Error: { } error } answer:
                    WriteId(writer, answer.RequestId);
                    writer.WriteStartObject("error"u8);
                    writer.WriteNumber("code"u8, (int)error.Code);
                    writer.WriteString("message"u8, error.Message);
                    if (error.Data is not null)
                    {
                        writer.WritePropertyName("data"u8);
                        this.WriteValue(writer, error.Data, declaredType: null);
                    }

                    writer.WriteEndObject();
                    break;
                case StreamJsonRpc.Protocol.JsonRpcError:
                    throw new ArgumentException("An error message must have its error set.", nameof(message));
                default:
                    throw new ArgumentException($"Unknown message type: {message.GetType().Name}", nameof(message));
            }

            writer.WriteEndObject();
        }
        catch (Exception ex)
        {
            // As StreamJsonRpc's formatters report a message they cannot write.
            throw new JsonException("Failure serializing a JSON-RPC message.", ex);
        }
    }

    private static void WriteId(Utf8JsonWriter writer, StreamJsonRpc.RequestId id)
    {
        if (!id.IsEmpty)
        {
            writer.WritePropertyName("id"u8);
            WriteRequestId(writer, id);
        }
    }

    private static void WriteRequestId(Utf8JsonWriter writer, StreamJsonRpc.RequestId id)
    {
        if (id.Number is long number)
        {
            writer.WriteNumberValue(number);
        }
        else if (id.String is { } text)
        {
            writer.WriteStringValue(text);
        }
        else
        {
            writer.WriteNullValue();
        }
    }

    private static StreamJsonRpc.RequestId ReadRequestId(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Number => element.TryGetInt64(out long number) ? new StreamJsonRpc.RequestId(number) : throw new JsonException($"The id {element.GetRawText()} is not an integer."),
        JsonValueKind.String => new StreamJsonRpc.RequestId(element.GetString()),
        JsonValueKind.Null => StreamJsonRpc.RequestId.Null,
        _ => throw new JsonException($"Unexpected token type for id property: {element.ValueKind}"),
    };

    private StreamJsonRpc.Protocol.JsonRpcMessage Read(JsonDocument document)
    {
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("Expected a JSON object at the root of the message.");
        }

        var id = root.TryGetProperty("id"u8, out var idElement) ? ReadRequestId(idElement) : StreamJsonRpc.RequestId.NotSpecified;
        StreamJsonRpc.Protocol.JsonRpcMessage message;
        if (root.TryGetProperty("method"u8, out var method))
        {
            // "params": null is no arguments; a params that is neither a list nor an object ends the connection as the
            // message is read, as with StreamJsonRpc's SystemTextJsonFormatter.
            JsonElement? arguments = null;
            if (root.TryGetProperty("params"u8, out var parameters) && parameters.ValueKind != JsonValueKind.Null)
            {
                arguments = parameters.ValueKind is JsonValueKind.Array or JsonValueKind.Object
                    ? parameters
                    : throw new InvalidOperationException($"Unexpected value kind: {parameters.ValueKind}");
            }

            message = new ReadRequest(this, document, arguments)
            {
                RequestId = id,
                Method = method.GetString(),
                // Of any other form, a trace member is no context, never an error (docs/protocol.md, Trace context).
                TraceParent = root.TryGetProperty("traceparent"u8, out var traceParent) ? TraceParent.TextOf(traceParent) : null,
                TraceState = root.TryGetProperty("tracestate"u8, out var traceState) ? TraceParent.TextOf(traceState) : null,
            };
        }
        else if (root.TryGetProperty("result"u8, out var result))
        {
            message = new ReadResult(this, document, result) { RequestId = id };
        }
        else if (root.TryGetProperty("error"u8, out var error))
        {
            message = new ReadError(document)
            {
                RequestId = id,
                Error = new ReadErrorDetail(this, error.TryGetProperty("data"u8, out var data) ? data : null)
                {
                    Code = (StreamJsonRpc.Protocol.JsonRpcErrorCode)error.GetProperty("code"u8).GetInt64(),
                    Message = error.GetProperty("message"u8).GetString(),
                },
            };
        }
        else
        {
            throw new JsonException("Expected a request, result, or error message.");
        }

        message.Version = !root.TryGetProperty("jsonrpc"u8, out var version) ? "1.0"
            : version.ValueEquals("2.0"u8) ? "2.0"
            : version.GetString() ?? throw new JsonException("Unexpected null value for jsonrpc property.");
        return message;
    }

    private void WriteArguments(Utf8JsonWriter writer, StreamJsonRpc.Protocol.JsonRpcRequest request)
    {
        if (request.ArgumentsList is { } list)
        {
            writer.WriteStartArray("params"u8);
            for (int i = 0; i < list.Count; i++)
            {
                this.WriteValue(writer, list[i], request.ArgumentListDeclaredTypes?[i]);
            }

            writer.WriteEndArray();
        }
        else if (request.NamedArguments is { } named)
        {
            writer.WriteStartObject("params"u8);
            foreach (var argument in named)
            {
                writer.WritePropertyName(argument.Key);
                this.WriteValue(writer, argument.Value, request.NamedArgumentDeclaredTypes?[argument.Key]);
            }

            writer.WriteEndObject();
        }
        else if (request.Arguments is not null)
        {
            throw new NotSupportedException("The protocol's requests take their arguments as a list or by name, not as an object.");
        }
    }

    private void WriteValue(Utf8JsonWriter writer, object? value, Type? declaredType)
    {
        switch (value)
        {
            case null:
                writer.WriteNullValue();
                break;
            case StreamJsonRpc.RequestId id:
                // StreamJsonRpc's own $/cancelRequest names the request it cancels.
                WriteRequestId(writer, id);
                break;
            default:
                JsonSerializer.Serialize(writer, value, this.TypeInfo(declaredType is null || declaredType == typeof(object) ? value.GetType() : declaredType));
                break;
        }
    }

    private object? ReadValue(JsonElement element, Type type) =>
        type == typeof(StreamJsonRpc.RequestId) ? ReadRequestId(element) : element.Deserialize(this.TypeInfo(type));

    private JsonTypeInfo TypeInfo(Type type) =>
        this.Options.TryGetTypeInfo(type, out var typeInfo)
            ? typeInfo
            : throw new NotSupportedException($"{type} is not one of the protocol's types (ProtocolJsonContext).");

    /// <summary>A request as read: its arguments are read into their parameters' types when StreamJsonRpc binds them.</summary>
    private sealed class ReadRequest(ProtocolFormatter formatter, JsonDocument document, JsonElement? arguments)
        : StreamJsonRpc.Protocol.JsonRpcRequest, IJsonRpcMessageBufferManager
    {
        private JsonDocument? document = document;
        private JsonElement? arguments = arguments;

        private readonly int argumentCount = arguments switch
        {
            { ValueKind: JsonValueKind.Array } list => list.GetArrayLength(),
            { ValueKind: JsonValueKind.Object } named => named.EnumerateObject().Count(),
            _ => 0,
        };

        public override int ArgumentCount => this.argumentCount;

        public override IEnumerable<string>? ArgumentNames =>
            this.arguments is { ValueKind: JsonValueKind.Object } named ? named.EnumerateObject().Select(p => p.Name) : null;

        public override bool TryGetArgumentByNameOrIndex(string? name, int position, Type? typeHint, out object? value)
        {
            JsonElement? found = null;
            switch (this.arguments)
            {
                case { ValueKind: JsonValueKind.Object } named when name is not null:
                    if (named.TryGetProperty(name, out var property))
                    {
                        found = property;
                    }

                    break;
                case { ValueKind: JsonValueKind.Array } list when position >= 0 && position < list.GetArrayLength():
                    found = list[position];
                    break;
            }

            value = null;
            if (found is not { } element)
            {
                return false;
            }

            try
            {
                value = formatter.ReadValue(element, typeHint ?? typeof(JsonElement));
            }
            catch (Exception ex)
            {
                // StreamJsonRpc answers it as invalid params (-32602), as with its own formatters.
                throw new RpcArgumentDeserializationException(name, position, typeHint, ex);
            }

            return true;
        }

        public void DeserializationComplete(StreamJsonRpc.Protocol.JsonRpcMessage message)
        {
            this.arguments = null;
            this.document?.Dispose();
            this.document = null;
        }
    }

    /// <summary>A result as read: read into the type the caller awaits once StreamJsonRpc says which.</summary>
    private sealed class ReadResult(ProtocolFormatter formatter, JsonDocument document, JsonElement result)
        : StreamJsonRpc.Protocol.JsonRpcResult, IJsonRpcMessageBufferManager
    {
        private JsonDocument? document = document;
        private JsonElement? result = result;
        private Exception? failure;

        public override T GetResult<T>()
        {
            if (this.failure is not null)
            {
                ExceptionDispatchInfo.Capture(this.failure).Throw();
            }

            return this.result is { } element ? (T)formatter.ReadValue(element, typeof(T))! : (T)this.Result!;
        }

        public void DeserializationComplete(StreamJsonRpc.Protocol.JsonRpcMessage message)
        {
            this.result = null;
            this.document?.Dispose();
            this.document = null;
        }

        protected override void SetExpectedResultType(Type resultType)
        {
            if (this.result is not { } element)
            {
                throw new InvalidOperationException("The result is no longer available or has already been read.");
            }

            try
            {
                this.Result = formatter.ReadValue(element, resultType);
                this.result = null;
            }
            catch (Exception ex)
            {
                // Thrown to the caller when it asks for the result, as StreamJsonRpc's formatters do.
                this.failure = new JsonException($"Failure deserializing RPC result to type {resultType.Name}: {ex.GetType().Name}: {ex.Message}", ex);
            }
        }
    }

    /// <summary>An error as read; its data is read when StreamJsonRpc says into which type.</summary>
    private sealed class ReadError(JsonDocument document) : StreamJsonRpc.Protocol.JsonRpcError, IJsonRpcMessageBufferManager
    {
        private JsonDocument? document = document;

        public void DeserializationComplete(StreamJsonRpc.Protocol.JsonRpcMessage message)
        {
            (this.Error as ReadErrorDetail)?.Release();
            this.document?.Dispose();
            this.document = null;
        }
    }

    private sealed class ReadErrorDetail(ProtocolFormatter formatter, JsonElement? data) : StreamJsonRpc.Protocol.JsonRpcError.ErrorDetail
    {
        private JsonElement? data = data;

        public override object? GetData(Type dataType)
        {
            ArgumentNullException.ThrowIfNull(dataType);
            if (this.data is not { } element)
            {
                return this.Data;
            }

            try
            {
                return formatter.ReadValue(element, dataType);
            }
            catch (Exception ex) when (ex is JsonException or NotSupportedException)
            {
                // Data of another shape, or of a type the protocol does not know: kept as the JSON it is.
                return element.Clone();
            }
        }

        public void Release() => this.data = null;

        protected override void SetExpectedDataType(Type dataType)
        {
            this.Data = this.GetData(dataType);
            this.data = null;
        }
    }
}
