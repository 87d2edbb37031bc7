namespace Rx.SharedMemory.Rpc;

/// <summary>The JSON-RPC error codes of the protocol, each mapped back to one exception type in the worker.</summary>
internal static class RpcErrorCodes
{
    /// <summary>A key or value is larger than the master allows: <see cref="SharedMemoryLimitExceededException"/>.</summary>
    public const int LimitExceeded = -32010;

    /// <summary>An argument is invalid, such as an empty key: <see cref="ArgumentException"/>.</summary>
    public const int InvalidArgument = -32011;
}
