using System.Text.Json;
using StreamJsonRpc;
using StreamJsonRpc.Protocol;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The protocol's error codes, both ways: the master's exceptions become codes (with data) in the response, and a
/// worker turns the codes back into the same exception types, so that callers catch what the master threw.
/// </summary>
internal static class RpcErrors
{
    /// <summary>The error for an exception of ours, or null to leave it to StreamJsonRpc's default.</summary>
    public static JsonRpcError.ErrorDetail? ToErrorDetail(Exception exception) => exception switch
    {
        SharedMemoryLimitExceededException limit => new()
        {
            Code = (JsonRpcErrorCode)RpcErrorCodes.LimitExceeded,
            Message = limit.Message,
            Data = new LimitErrorData(limit.Key, limit.LimitName, limit.Limit, limit.Actual),
        },
        ArgumentException => new() { Code = (JsonRpcErrorCode)RpcErrorCodes.InvalidArgument, Message = exception.Message },
        SharedMemoryUnavailableException => new() { Code = (JsonRpcErrorCode)RpcErrorCodes.Unavailable, Message = exception.Message },
        ProtocolOrderException => new() { Code = (JsonRpcErrorCode)RpcErrorCodes.OutOfOrder, Message = exception.Message },
        InvalidOperationException => new() { Code = (JsonRpcErrorCode)RpcErrorCodes.InvalidOperation, Message = exception.Message },
        TimeoutException => new() { Code = (JsonRpcErrorCode)RpcErrorCodes.Timeout, Message = exception.Message },
        _ => null,
    };

    /// <summary>
    /// The exception for an error response. It does not wrap the <see cref="RemoteInvocationException"/>: users see
    /// this library's exceptions and the master's message, never StreamJsonRpc's types.
    /// </summary>
    public static Exception ToException(RemoteInvocationException error) =>
        ToException(error.ErrorCode, error.Message, error.DeserializedErrorData as LimitErrorData, inner: null);

    /// <summary>The exception for an <c>{"code", "message", "data"}</c> error object of a <c>batch</c> result.</summary>
    public static Exception ToException(JsonElement error, JsonSerializerOptions options)
    {
        int code = error.TryGetProperty("code"u8, out var codeElement) && codeElement.TryGetInt32(out int number) ? number : 0;
        string message = error.TryGetProperty("message"u8, out var messageElement) ? messageElement.GetString() ?? string.Empty : string.Empty;
        var data = code == RpcErrorCodes.LimitExceeded && error.TryGetProperty("data"u8, out var dataElement) && dataElement.ValueKind == JsonValueKind.Object
            ? dataElement.Deserialize(ProtocolJsonContext.Default.LimitErrorData)
            : null;
        return ToException(code, message, data, inner: null);
    }

    private static Exception ToException(int code, string message, LimitErrorData? data, Exception? inner) => code switch
    {
        RpcErrorCodes.LimitExceeded when data is not null =>
            new SharedMemoryLimitExceededException(data.Key, data.LimitName ?? "unknown", data.Limit, data.Actual),
        RpcErrorCodes.LimitExceeded => new SharedMemoryLimitExceededException(message, inner),
        RpcErrorCodes.InvalidArgument => new ArgumentException(message, inner),
        RpcErrorCodes.InvalidOperation => new InvalidOperationException(message, inner),
        RpcErrorCodes.Timeout => new TimeoutException(message, inner),
        RpcErrorCodes.Unavailable => new SharedMemoryUnavailableException(message, inner),
        _ => new SharedMemoryException($"The master failed the call: {message}", inner),
    };
}
