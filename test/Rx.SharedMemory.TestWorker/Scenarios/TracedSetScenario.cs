using System.Diagnostics;
using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>traced-set KEY JSON: sets KEY inside an activity of its own, and reports that activity's trace and span.</summary>
internal sealed class TracedSetScenario : Scenario<TracedSetScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;

        // No listener needed: an activity started by hand is current, and the call carries its context.
        using var activity = new Activity("traced-set").SetIdFormat(ActivityIdFormat.W3C).Start();
        long version = await store.SetAsync(arguments[0], JsonElement.Parse(arguments[1]), timeout);
        return new Report(activity.TraceId.ToHexString(), activity.SpanId.ToHexString(), version);
    }

    /// <param name="TraceId">The trace of the activity the set was made in.</param>
    /// <param name="SpanId">That activity's span.</param>
    /// <param name="Version">The set's version.</param>
    internal sealed record Report(string TraceId, string SpanId, long Version);
}
