using System.Diagnostics;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The W3C <c>traceparent</c> text (<c>00-{trace id}-{span id}-{flags}</c>) that carries a trace context on the wire:
/// on a call of a <c>batch</c> (its <c>traceparents</c>) and on a change of a <c>changes</c> notification.
/// </summary>
internal static class TraceParent
{
    /// <summary>The context as a <c>traceparent</c>; null for none.</summary>
    public static string? Format(ActivityContext context) =>
        context.TraceId == default
            ? null
            : $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{((context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00")}";

    /// <summary>The context a <c>traceparent</c> carries, from another process; default for none or one that does not parse (it is only a hint).</summary>
    public static ActivityContext Parse(string? traceParent) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, traceState: null, isRemote: true, out var context) ? context : default;

    /// <summary>The context of the activity current on this thread, to carry on; default for none.</summary>
    public static ActivityContext Current() => Activity.Current?.Context ?? default;
}
