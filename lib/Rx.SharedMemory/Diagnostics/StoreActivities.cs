using System.Diagnostics;
using Rx.SharedMemory.Protocol;

namespace Rx.SharedMemory.Diagnostics;

/// <summary>
/// The activities of the <see cref="SharedMemoryTracing.ActivitySourceName"/> source, in the master and in a worker.
/// Without a listener, nothing is started: what a caller sent is checked for form only, and carried on as text.
/// </summary>
internal static class StoreActivities
{
    /// <summary>The name of a worker's activity around an observer's <c>OnNext</c>: OpenTelemetry's <c>{operation} {destination}</c> for messaging.</summary>
    public const string DeliveryName = "process changes";

    private static readonly ActivitySource Source = new(SharedMemoryTracing.ActivitySourceName, LibraryVersion.Value);

    /// <summary>
    /// Starts the master's activity for one operation a worker called: the child of the caller's context when it sent
    /// one (a request's <c>traceparent</c>, or its call's entry of a batch's <c>traceparents</c>), else a root.
    /// </summary>
    /// <param name="operation">The method, the activity's name.</param>
    /// <param name="callerTraceParent">The caller's <c>traceparent</c> as received, unchecked; null for none.</param>
    /// <param name="workerId">The worker the operation runs for.</param>
    /// <returns>The activity, current until <see cref="OperationActivity.Leave"/>, and the context its changes carry.</returns>
    public static OperationActivity StartOperation(string operation, string? callerTraceParent, int workerId)
    {
        if (!Source.HasListeners())
        {
            // Nothing to record: the changes carry the caller's context on as it came, so that the worker that takes
            // them still joins the writer's trace.
            return new(null, null, Checked(callerTraceParent));
        }

        var parent = TraceParent.Parse(callerTraceParent);

        // Without a context from the caller, a root, whatever is current on this thread.
        var ambient = Activity.Current;
        if (ambient is not null)
        {
            Activity.Current = null;
        }

        var activity = Source.StartActivity(operation, ActivityKind.Server, parent);
        if (activity is null)
        {
            Activity.Current = ambient;
            return new(null, null, parent == default ? null : callerTraceParent);
        }

        if (activity.IsAllDataRequested)
        {
            activity.SetTag("rpc.system", "jsonrpc");
            activity.SetTag("rpc.method", operation);
            activity.SetTag(MasterMetrics.WorkerTag, workerId);
        }

        return new(activity, ambient, TraceParent.Of(activity));
    }

    /// <summary>
    /// Starts a worker's activity (kind consumer) for the delivery of one change to its observer, the child of the
    /// context the change carries; none when it carries none, or when nobody listens (the text is then not parsed).
    /// </summary>
    public static Activity? StartDelivery(string? traceParent)
    {
        if (traceParent is null || !Source.HasListeners())
        {
            return null;
        }

        var parent = TraceParent.Parse(traceParent);
        if (parent == default)
        {
            return null;
        }

        var activity = Source.StartActivity(DeliveryName, ActivityKind.Consumer, parent);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "rx.sharedmemory");
            activity.SetTag("messaging.operation.type", "process");
            activity.SetTag("messaging.operation.name", "process");
            activity.SetTag("messaging.destination.name", "changes");
        }

        return activity;
    }

    /// <summary>Gets a value indicating whether anyone listens to the library's activities.</summary>
    public static bool Listening => Source.HasListeners();

    /// <summary>
    /// Starts a worker's activity (kind client) for one call to its master, the child of the current activity, or a
    /// root; none when nobody listens. The call carries its context, so the master's operation is its child.
    /// </summary>
    /// <param name="operation">The method called: the activity's name.</param>
    public static Activity? StartCall(string operation)
    {
        var activity = Source.StartActivity(operation, ActivityKind.Client);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("rpc.system", "jsonrpc");
            activity.SetTag("rpc.method", operation);
        }

        return activity;
    }

    /// <summary>
    /// Starts the activity (kind internal) of one operation of a store used in-process (<c>master.Store</c>, a
    /// <c>RedisSharedStore</c>): the child of the current activity, or a root; none when nobody listens. Current for
    /// the rest of the operation, so that the change it commits carries its context.
    /// </summary>
    /// <param name="operation">The operation, as the protocol names it: the activity's name.</param>
    public static Activity? StartLocal(string operation)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity(operation, ActivityKind.Internal);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("rx.sharedmemory.operation", operation);
        }

        return activity;
    }

    /// <summary>
    /// Marks <paramref name="activity"/> failed with the type of <paramref name="failure"/> (not its message, which may
    /// name keys). Returns false, to be used as an exception filter that lets the exception go on.
    /// </summary>
    public static bool Failed(Activity? activity, Exception failure)
    {
        if (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error);
            activity.SetTag(MasterMetrics.ErrorTypeTag, failure.GetType().FullName);
        }

        return false;
    }

    /// <summary>A caller's <c>traceparent</c> when it is one; null otherwise, so that nothing else travels on to other workers.</summary>
    private static string? Checked(string? traceParent) => traceParent is not null && TraceParent.Parse(traceParent) != default ? traceParent : null;

    /// <summary>
    /// The master's activity for one operation, if one was started, and the <c>traceparent</c> the changes the
    /// operation commits carry: the activity's, or the caller's as it came when nothing was started.
    /// </summary>
    internal readonly struct OperationActivity(Activity? activity, Activity? ambient, string? traceParent)
    {
        /// <summary>Gets the <c>traceparent</c> the operation's changes carry; null for none.</summary>
        public string? TraceParent => traceParent;

        /// <summary>Makes the activity that was current before the operation's current again, once the operation has started (it may end later, elsewhere).</summary>
        public void Leave()
        {
            if (activity is not null)
            {
                Activity.Current = ambient;
            }
        }

        /// <summary>Ends the activity, marked as failed with the failure's type (not its message, which may name keys).</summary>
        public void End(Exception? failure)
        {
            if (activity is null)
            {
                return;
            }

            if (failure is not null)
            {
                Failed(activity, failure);
            }

            activity.Stop();
        }
    }
}
