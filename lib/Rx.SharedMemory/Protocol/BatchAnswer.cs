using System.Text.Json;
using StreamJsonRpc.Protocol;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The result of a <c>batch</c> request: an array with one outcome per call, in order, each <c>{"result": …}</c>,
/// <c>{"result": {"version", "region": [offset, length]}}</c> for a value waiting in the shared region, or
/// <c>{"error": {"code", "message", "data"?}}</c>. The master writes it, a worker reads it, both through here.
/// </summary>
internal static class BatchAnswer
{
    /// <summary>Writes the outcome of a call that succeeded. <paramref name="result"/> is serialized as its own request's result would be.</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="result">The result: null (a get of an absent key), a number, a boolean or a message.</param>
    public static void WriteResult(Utf8JsonWriter writer, object? result)
    {
        writer.WriteStartObject();
        writer.WritePropertyName("result"u8);
        switch (result)
        {
            case long number:
                writer.WriteNumberValue(number);
                break;
            case bool flag:
                writer.WriteBooleanValue(flag);
                break;
            case null:
                writer.WriteNullValue();
                break;
            default:
                JsonSerializer.Serialize(writer, result, result.GetType(), ProtocolJsonContext.Default);
                break;
        }

        writer.WriteEndObject();
    }

    /// <summary>Writes the outcome of a get whose value waits in the shared region.</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="version">The entry's version.</param>
    /// <param name="offset">Where the value starts in the to-worker area.</param>
    /// <param name="length">The value's length.</param>
    public static void WriteRegionResult(Utf8JsonWriter writer, long version, long offset, long length)
    {
        writer.WriteStartObject();
        writer.WritePropertyName("result"u8);
        writer.WriteStartObject();
        writer.WriteNumber("version"u8, version);
        writer.WriteStartArray("region"u8);
        writer.WriteNumberValue(offset);
        writer.WriteNumberValue(length);
        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>Writes the outcome of a failed call: the code, message and data a single request would have had (<see cref="RpcErrors.ToErrorDetail"/>).</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="detail">The error.</param>
    public static void WriteError(Utf8JsonWriter writer, JsonRpcError.ErrorDetail detail) =>
        WriteError(writer, (int)detail.Code, detail.Message ?? string.Empty, detail.Data as LimitErrorData);

    /// <summary>Writes the outcome <c>{"error": {"code", "message", "data"?}}</c>.</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="code">The error code (<see cref="RpcErrorCodes"/>).</param>
    /// <param name="message">The message.</param>
    /// <param name="data">The data of a limit error, or null.</param>
    public static void WriteError(Utf8JsonWriter writer, int code, string message, LimitErrorData? data = null)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("error"u8);
        writer.WriteNumber("code"u8, code);
        writer.WriteString("message"u8, message);
        if (data is not null)
        {
            writer.WritePropertyName("data"u8);
            JsonSerializer.Serialize(writer, data, ProtocolJsonContext.Default.LimitErrorData);
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>Writes the outcome of a call left unrun (the answer full, or past the calls sent at once): the worker sends it again. Short: a batch of many small calls may have many.</summary>
    /// <param name="writer">The writer.</param>
    public static void WriteNotRun(Utf8JsonWriter writer) =>
        WriteError(writer, RpcErrorCodes.NotRun, "Not run: send it again.");

    /// <summary>Whether an outcome says its call was not run (<see cref="RpcErrorCodes.NotRun"/>).</summary>
    /// <param name="outcome">One outcome of the answer.</param>
    /// <returns>True for a call to send again.</returns>
    public static bool IsNotRun(JsonElement outcome) =>
        outcome.ValueKind == JsonValueKind.Object
        && outcome.TryGetProperty("error"u8, out var error)
        && error.ValueKind == JsonValueKind.Object
        && error.TryGetProperty("code"u8, out var code)
        && code.TryGetInt32(out int number)
        && number == RpcErrorCodes.NotRun;

    /// <summary>Reads where a result's value waits in the shared region, if it does.</summary>
    /// <param name="outcome">One outcome of the answer.</param>
    /// <param name="version">The entry's version.</param>
    /// <param name="offset">Where the value starts in the to-worker area.</param>
    /// <param name="length">The value's length.</param>
    /// <returns>True when the value waits in the region.</returns>
    public static bool TryReadRegionResult(JsonElement outcome, out long version, out long offset, out long length)
    {
        if (outcome.ValueKind == JsonValueKind.Object && outcome.TryGetProperty("result"u8, out var result)
            && result.ValueKind == JsonValueKind.Object && result.TryGetProperty("region"u8, out var place))
        {
            version = result.GetProperty("version"u8).GetInt64();
            offset = place[0].GetInt64();
            length = place[1].GetInt64();
            return true;
        }

        version = offset = length = 0;
        return false;
    }

    /// <summary>Reads one outcome: its result, or the exception its error stands for (<see cref="RpcErrors.ToException(JsonElement, JsonSerializerOptions)"/>).</summary>
    /// <param name="outcome">One outcome of the answer.</param>
    /// <param name="options">How the error's data is read.</param>
    /// <param name="result">The result, when the call succeeded.</param>
    /// <param name="error">The exception for the caller, when the call failed.</param>
    /// <returns>False when the outcome is neither a result nor an error.</returns>
    public static bool TryReadOutcome(JsonElement outcome, JsonSerializerOptions options, out JsonElement result, out Exception? error)
    {
        result = default;
        error = null;
        if (outcome.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        if (outcome.TryGetProperty("error"u8, out var errorObject))
        {
            error = RpcErrors.ToException(errorObject, options);
            return true;
        }

        return outcome.TryGetProperty("result"u8, out result);
    }
}
