using System.Text.Json;
using System.Text.RegularExpressions;
using StreamJsonRpc;
using StreamJsonRpc.Protocol;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The protocol's error codes, both ways: the master's exceptions become codes (with data) in the response, and a
/// worker turns the codes back into the same exception types, so that callers catch what the master threw.
/// </summary>
internal static partial class RpcErrors
{
    /// <summary>
    /// StreamJsonRpc's message for arguments it could not bind (<c>-32602</c>), without the master's own .NET names: it
    /// names the method it tried by the compiler's name for the operation's lambda
    /// (<c>Rx.SharedMemory.Master.OperationTable+&lt;&gt;c__DisplayClass16_1.get(String)</c>), which means nothing to a
    /// worker in another language. What it says of the arguments stays.
    /// </summary>
    public static string PlainInvalidParams(string message) =>
        OperationLambda().Replace(message, string.Empty)
            .Replace(" on {no object}", string.Empty, StringComparison.Ordinal)
            .Replace(" (excluding any CancellationToken)", string.Empty, StringComparison.Ordinal)
            .Replace("Nullable`1", "Nullable", StringComparison.Ordinal);

    /// <summary>
    /// The error a request (or a call of a batch) that ended with <paramref name="exception"/> is answered with. Our
    /// exceptions map to the protocol's codes; a cancelled request is answered as JSON-RPC's cancelled one. Anything
    /// else is a fault of the master, not of the request: it is answered <see cref="JsonRpcErrorCode.InternalError"/>
    /// with a plain message and no data, so that no .NET type, message or stack trace reaches the wire (the master
    /// logs the exception).
    /// </summary>
    /// <param name="exception">What the request ended with.</param>
    /// <param name="method">The request's method, named in an internal error's message.</param>
    /// <returns>The error's code, message and data.</returns>
    public static JsonRpcError.ErrorDetail ToErrorDetail(Exception exception, string? method) => exception switch
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
        OperationCanceledException => new() { Code = JsonRpcErrorCode.RequestCanceled, Message = "The request was cancelled." },
        _ => new() { Code = JsonRpcErrorCode.InternalError, Message = $"The master failed to run '{method}': an internal error, which it logged." },
    };

    /// <summary>Whether an error is the answer to an exception the protocol has no code for (<see cref="ToErrorDetail"/>): the master logs those.</summary>
    /// <param name="detail">The error.</param>
    /// <returns>True for an internal error.</returns>
    public static bool IsInternal(JsonRpcError.ErrorDetail detail) => detail.Code == JsonRpcErrorCode.InternalError;

    /// <summary>
    /// The exception for an error response. It does not wrap the <see cref="RemoteRpcException"/>: users see this
    /// library's exceptions and the master's message, never StreamJsonRpc's types, whichever of them StreamJsonRpc
    /// read the answer as (<see cref="RemoteMethodNotFoundException"/> for <c>-32601</c> and <c>-32602</c>).
    /// </summary>
    public static Exception ToException(RemoteRpcException error) =>
        ToException((int?)error.ErrorCode ?? 0, error.Message, error.DeserializedErrorData as LimitErrorData, inner: null);

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

    [GeneratedRegex(@"Rx\.SharedMemory\.[\w.]+\+<>c__DisplayClass\d+_\d+\.")]
    private static partial Regex OperationLambda();
}
