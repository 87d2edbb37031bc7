using StreamJsonRpc;
using StreamJsonRpc.Protocol;

namespace Rx.SharedMemory.Rpc;

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
        InvalidOperationException => new() { Code = (JsonRpcErrorCode)RpcErrorCodes.InvalidOperation, Message = exception.Message },
        TimeoutException => new() { Code = (JsonRpcErrorCode)RpcErrorCodes.Timeout, Message = exception.Message },
        _ => null,
    };

    public static Exception ToException(RemoteInvocationException error) => error.ErrorCode switch
    {
        RpcErrorCodes.LimitExceeded when error.DeserializedErrorData is LimitErrorData data =>
            new SharedMemoryLimitExceededException(data.Key, data.LimitName ?? "unknown", data.Limit, data.Actual),
        RpcErrorCodes.LimitExceeded => new SharedMemoryLimitExceededException(error.Message, error),
        RpcErrorCodes.InvalidArgument => new ArgumentException(error.Message, error),
        RpcErrorCodes.InvalidOperation => new InvalidOperationException(error.Message, error),
        RpcErrorCodes.Timeout => new TimeoutException(error.Message, error),
        _ => new SharedMemoryException($"The master failed the call: {error.Message}", error),
    };
}
