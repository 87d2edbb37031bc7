using System.Collections.Concurrent;
using System.Diagnostics;

namespace Rx.SharedMemory.Tests;

/// <summary>One trace from a worker's set, through the master's operation, to the change another worker's observer takes.</summary>
public sealed class TracingTests : WorkerProcessTestBase, IDisposable
{
    private readonly ConcurrentQueue<Activity> stopped = new();
    private readonly ActivityListener listener;

    public TracingTests()
    {
        this.listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == SharedMemoryTracing.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = this.stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(this.listener);
    }

    [Fact]
    public async Task SetInAnActivity_TheMastersOperationAndTheOtherWorkersObserver_ShareItsTrace()
    {
        var observer = await this.SpawnReadyAsync("traced-observe", "traced/k");
        var writer = await this.ReportAfterExitAsync<TracedSetScenario.Report>(await this.SpawnAsync("traced-set", "traced/k", "42"));
        var seen = await this.ReportAfterExitAsync<TracedObserveScenario.Report>(observer);

        // The master's activity is the child of the writer's, and stopped before it answered.
        var set = Assert.Single(this.stopped, a => a.TraceId.ToHexString() == writer.TraceId);
        Assert.Equal("set", set.OperationName);
        Assert.Equal(ActivityKind.Server, set.Kind);
        Assert.Equal(writer.SpanId, set.ParentSpanId.ToHexString());

        // The observer ran in an activity of the same trace, the child of the master's.
        Assert.Equal(writer.Version, seen.Version);
        Assert.Equal(SharedMemoryTracing.ActivitySourceName, seen.Source);
        Assert.Equal(nameof(ActivityKind.Consumer), seen.Kind);
        Assert.Equal(writer.TraceId, seen.TraceId);
        Assert.Equal(set.SpanId.ToHexString(), seen.ParentSpanId);
    }

    public void Dispose() => this.listener.Dispose();
}
