namespace Rx.SharedMemory;

/// <summary>
/// The library's traces, on the <see cref="ActivitySourceName"/> activity source, of the library's version (listen
/// with OpenTelemetry's <c>AddSource</c> or an <see cref="System.Diagnostics.ActivityListener"/>). A worker's call
/// carries the trace context of the activity current when it is made (W3C <c>traceparent</c>) to the master, whose
/// activity for the operation is its child; a change it commits carries that activity's context (or, when the master
/// records none, the caller's) on to every worker that receives it, where the observer runs inside an activity of
/// the same trace. When nothing listens, nothing is started.
/// </summary>
public static class SharedMemoryTracing
{
    /// <summary>The name of the activity source of the master and the worker.</summary>
    public const string ActivitySourceName = "Rx.SharedMemory";
}
