using System.Diagnostics;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// With the Redis engine, a change's trace context travels in its entry of the store's change log. In the non-parallel
/// collection, as <see cref="TracingTests"/>: the master's process must have no listener.
/// </summary>
[Collection(nameof(Measurements))]
public sealed class RedisTracingTests() : WorkerProcessTestBase(TestEngine.Redis)
{
    [Fact]
    public async Task TheObserversActivity_IsTheChildOfTheWritersActivity_ThroughTheLog()
    {
        var observer = await this.SpawnReadyAsync("traced-observe", "traced/k");
        var writer = await this.ReportAfterExitAsync<TracedSetScenario.Report>(await this.SpawnAsync("traced-set", "traced/k", "42"));
        var seen = await this.ReportAfterExitAsync<TracedObserveScenario.Report>(observer);

        Assert.Equal(writer.Version, seen.Version);
        Assert.Equal(writer.TraceId, seen.TraceId);
        Assert.Equal(writer.SpanId, seen.ParentSpanId);
    }

    [Fact]
    public async Task AWriteCarriesItsCallersContext_InTheLog_AndItsExpiryNone()
    {
        using var committed = new CommittedChanges(this.Master.Engine, "ttl/");
        string? callerTraceParent;
        using (var caller = new Activity("caller").SetIdFormat(ActivityIdFormat.W3C).Start())
        {
            callerTraceParent = caller.Id;
            await this.Master.Store.SetAsync("ttl/k", 1, new SetOptions { TimeToLive = TimeSpan.FromMilliseconds(50) }, this.TimeoutToken);
            await this.Master.Store.IncrementAsync("ttl/n", 1, this.TimeoutToken);
            await this.Master.Store.DeleteAsync("ttl/n", this.TimeoutToken);
        }

        var changes = new List<(string, KeyChangeKind, string?)>();
        for (int i = 0; i < 4; i++)
        {
            var change = await committed.NextAsync(this.TimeoutToken);
            changes.Add((change.Key, change.Kind, change.TraceParent));
        }

        Assert.Equal(
            [("ttl/k", KeyChangeKind.Set, callerTraceParent), ("ttl/n", KeyChangeKind.Set, callerTraceParent), ("ttl/n", KeyChangeKind.Deleted, callerTraceParent), ("ttl/k", KeyChangeKind.Expired, null)],
            changes.Where(c => c.Item2 != KeyChangeKind.Expired).Append(changes.Single(c => c.Item2 == KeyChangeKind.Expired)).ToArray());
    }
}
