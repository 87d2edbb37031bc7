using StreamJsonRpc;

namespace Rx.SharedMemory.Rpc;

/// <summary>Turns the protocol's error codes back into the exceptions the master threw.</summary>
internal static class RpcErrors
{
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
