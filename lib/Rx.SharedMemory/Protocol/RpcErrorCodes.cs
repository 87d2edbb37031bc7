namespace Rx.SharedMemory.Protocol;

/// <summary>The JSON-RPC error codes of the protocol, each mapped back to one exception type in the worker.</summary>
internal static class RpcErrorCodes
{
    /// <summary>A key or value is larger than the master allows: <see cref="SharedMemoryLimitExceededException"/>.</summary>
    public const int LimitExceeded = -32010;

    /// <summary>An argument is invalid, such as an empty key: <see cref="ArgumentException"/>.</summary>
    public const int InvalidArgument = -32011;

    /// <summary>The operation does not fit the key's value, such as an increment of a string: <see cref="InvalidOperationException"/>.</summary>
    public const int InvalidOperation = -32012;

    /// <summary>A lock was not granted in time: <see cref="TimeoutException"/>.</summary>
    public const int Timeout = -32013;

    /// <summary>A call of a batch that was not run because the batch's answer was full; the worker sends it again.</summary>
    public const int NotRun = -32014;

    /// <summary>A request out of order: anything before <c>hello</c>, or a second <c>hello</c>.</summary>
    public const int OutOfOrder = -32015;

    /// <summary>The store's engine did not complete the call; a write's outcome is unknown: <see cref="SharedMemoryUnavailableException"/>.</summary>
    public const int Unavailable = -32016;
}
