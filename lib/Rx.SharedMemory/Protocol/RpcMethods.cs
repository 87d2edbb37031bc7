namespace Rx.SharedMemory.Protocol;

/// <summary>The JSON-RPC method names of the protocol (docs/protocol.md).</summary>
internal static class RpcMethods
{
    /// <summary>The protocol version this build speaks.</summary>
    public const int ProtocolVersion = 1;

    /// <summary>The <c>hello</c> feature that says the master takes <see cref="Batch"/> requests.</summary>
    public const string BatchFeature = "batch";

    /// <summary>The <c>hello</c> feature that says large values may travel through the shared region (docs/protocol.md).</summary>
    public const string SharedRegionFeature = "sharedRegion";

    /// <summary>The master's feature: a <c>batch</c> may carry <c>traceparents</c>, one trace context per call (docs/protocol.md).</summary>
    public const string TraceContextFeature = "traceContext";

    /// <summary>The <c>hello</c> feature that says the master takes and sends <see cref="Message"/> notifications (docs/protocol.md).</summary>
    public const string MessagesFeature = "messages";

    // Worker to master, requests.
    public const string Hello = "hello";
    public const string Get = "get";
    public const string Set = "set";
    public const string Delete = "delete";
    public const string CompareAndSet = "compareAndSet";
    public const string Increment = "increment";
    public const string Lock = "lock";
    public const string Unlock = "unlock";
    public const string Subscribe = "subscribe";
    public const string Batch = "batch";

    // Worker to master, request or notification.
    public const string Unsubscribe = "unsubscribe";

    // Master to worker, notification.
    public const string Changes = "changes";

    // Both ways, notification: a message between processes, its params {"message": <JSON>}.
    public const string Message = "message";
}
