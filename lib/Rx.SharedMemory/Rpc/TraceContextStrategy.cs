using StreamJsonRpc;
using StreamJsonRpc.Protocol;

namespace Rx.SharedMemory.Rpc;

/// <summary>
/// How a connection carries the W3C <c>traceparent</c> of a request of its own (docs/protocol.md, Trace context), in
/// place of StreamJsonRpc's <see cref="ActivityTracingStrategy"/>, which starts an activity for every request it
/// receives, traced or not, listened to or not, and makes it current: a cost per request, and a parent that is never
/// recorded. This one starts nothing: a request's <c>traceparent</c> is kept, as text, for the operation it dispatches
/// to, which starts its own activity from it only when someone listens (<see cref="TakeInbound"/>).
/// </summary>
/// <remarks>
/// One per connection. On the master, <see cref="ApplyInboundActivity"/> runs on the connection's reader just before
/// the request's method is invoked there, inline, one request at a time (<see cref="Master.InlineSynchronizationContext"/>),
/// and the method takes the value before it first waits: so each method sees its own request's.
/// </remarks>
internal sealed class TraceContextStrategy : IActivityTracingStrategy
{
    // Whether requests sent carry the current activity's traceparent: a worker sets it once the master's hello lists
    // the traceContext feature, so that a master that does not know it never gets one.
    private volatile bool sends;

    // The traceparent of the request being dispatched; written and read on the master's reader thread only (see remarks).
    private string? inbound;

    /// <summary>Gets or sets a value indicating whether requests sent carry the <c>traceparent</c> of the activity current when they are sent.</summary>
    public bool SendsTraceParent
    {
        get => this.sends;
        set => this.sends = value;
    }

    /// <inheritdoc/>
    public void ApplyOutboundActivity(JsonRpcRequest request)
    {
        // Only the traceparent: the master carries no tracestate on (docs/protocol.md).
        if (this.sends && Protocol.TraceParent.Current() is { } traceParent)
        {
            request.TraceParent = traceParent;
        }
    }

    /// <inheritdoc/>
    public IDisposable? ApplyInboundActivity(JsonRpcRequest request)
    {
        this.inbound = request.TraceParent;
        return null;
    }

    /// <summary>Takes the <c>traceparent</c> of the request being dispatched, as it came (unchecked); null when it had none.</summary>
    /// <returns>The text, once: a second call returns null.</returns>
    public string? TakeInbound()
    {
        string? traceParent = this.inbound;
        this.inbound = null;
        return traceParent;
    }
}
