using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// traced-set KEY JSON [listen]: sets KEY inside an activity of its own, and reports that activity's trace and span;
/// with <c>listen</c>, the worker listens to the library's activities and reports the one its call started.
/// </summary>
internal sealed class TracedSetScenario : Scenario<TracedSetScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = arguments.Count > 2 && arguments[2] == "listen"
            ? new ActivityListener
            {
                ShouldListenTo = source => source.Name == SharedMemoryTracing.ActivitySourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = stopped.Enqueue,
            }
            : null;
        if (listener is not null)
        {
            ActivitySource.AddActivityListener(listener);
        }

        // No listener needed: an activity started by hand is current, and the call carries its context.
        using var activity = new Activity("traced-set").SetIdFormat(ActivityIdFormat.W3C).Start();
        long version = await store.SetAsync(arguments[0], JsonElement.Parse(arguments[1]), timeout);
        var call = stopped.SingleOrDefault();
        return new Report(
            activity.TraceId.ToHexString(),
            activity.SpanId.ToHexString(),
            version,
            Activity.Current?.SpanId.ToHexString(),
            call is null ? null : new Call(call.OperationName, call.Kind.ToString(), call.SpanId.ToHexString(), call.ParentSpanId.ToHexString(), (string?)call.GetTagItem("rpc.method")));
    }

    /// <summary>The activity the worker's call started.</summary>
    internal sealed record Call(string Name, string Kind, string SpanId, string ParentSpanId, string? Method);

    /// <param name="TraceId">The trace of the activity the set was made in.</param>
    /// <param name="SpanId">That activity's span.</param>
    /// <param name="Version">The set's version.</param>
    /// <param name="CurrentAfter">The span current once the set returned.</param>
    /// <param name="Client">With <c>listen</c>, the activity the call started.</param>
    internal sealed record Report(string TraceId, string SpanId, long Version, string? CurrentAfter = null, Call? Client = null);
}
