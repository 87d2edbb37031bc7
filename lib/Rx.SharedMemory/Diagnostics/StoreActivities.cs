using System.Diagnostics;

namespace Rx.SharedMemory.Diagnostics;

/// <summary>The activities of the <see cref="SharedMemoryTracing.ActivitySourceName"/> source, in the master and in a worker.</summary>
internal static class StoreActivities
{
    private static readonly ActivitySource Source = new(SharedMemoryTracing.ActivitySourceName);

    /// <summary>
    /// Starts the master's activity for one operation, a child of <paramref name="parent"/> (a worker's context from a
    /// batch) or, without one, of the current activity (StreamJsonRpc's, from a request's <c>traceparent</c>).
    /// </summary>
    /// <remarks>
    /// Without a listener, a call that came with a context still gets a bare activity of that trace, so that the
    /// changes it commits carry the trace on to the workers that receive them.
    /// </remarks>
    public static Activity? StartOperation(string operation, ActivityContext parent, int workerId)
    {
        var activity = Source.StartActivity(operation, ActivityKind.Server, parent);
        if (activity is not null)
        {
            if (activity.IsAllDataRequested)
            {
                activity.SetTag("rpc.system", "jsonrpc");
                activity.SetTag("rpc.method", operation);
                activity.SetTag(MasterMetrics.WorkerTag, workerId);
            }

            return activity;
        }

        if (parent.TraceId == default)
        {
            return null;
        }

        var bare = new Activity(operation);
        bare.SetParentId(parent.TraceId, parent.SpanId, parent.TraceFlags);
        return bare.Start();
    }

    /// <summary>Starts a worker's activity for the delivery of one change to its observer, in the trace of the write that made it.</summary>
    public static Activity? StartDelivery(ActivityContext parent)
    {
        if (parent.TraceId == default)
        {
            return null;
        }

        return Source.StartActivity("changes process", ActivityKind.Consumer, parent);
    }
}
