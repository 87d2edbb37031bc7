using System.Diagnostics;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// traced-observe KEY: listens to the library's activities, observes KEY, says ready/&lt;worker&gt; once its Reset came,
/// and reports the activity current while its observer took the first Set.
/// </summary>
internal sealed class TracedObserveScenario : Scenario<TracedObserveScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == SharedMemoryTracing.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);

        var reset = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new TaskCompletionSource<Report>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = store.Observe(arguments[0]).Subscribe(change =>
        {
            if (change.Kind == KeyChangeKind.Reset)
            {
                reset.TrySetResult();
            }
            else if (change.Kind == KeyChangeKind.Set)
            {
                var current = Activity.Current;
                seen.TrySetResult(new Report(change.Version, current?.Source.Name, current?.OperationName, current?.Kind.ToString(), current?.TraceId.ToHexString(), current?.ParentSpanId.ToHexString()));
            }
        });
        await reset.Task.WaitAsync(timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        return await seen.Task.WaitAsync(timeout);
    }

    /// <param name="Version">The version of the Set.</param>
    /// <param name="Source">The source of the activity current in the observer; null for none.</param>
    /// <param name="Name">Its name.</param>
    /// <param name="Kind">Its kind.</param>
    /// <param name="TraceId">Its trace.</param>
    /// <param name="ParentSpanId">The span it is a child of.</param>
    internal sealed record Report(long Version, string? Source, string? Name, string? Kind, string? TraceId, string? ParentSpanId);
}
