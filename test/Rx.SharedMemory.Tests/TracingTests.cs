using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Protocol;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// One trace from a worker's call, through the master's operation, to the change another worker's observer takes; and
/// nothing when nobody traces. In the non-parallel collection: an <see cref="ActivityListener"/> hears every test's
/// activities, and some of these tests need the master's process to have none.
/// </summary>
[Collection(nameof(Measurements))]
public sealed class TracingTests : WorkerProcessTestBase, IDisposable
{
    private readonly ConcurrentQueue<Activity> stopped = new();
    private ActivityListener? listener;

    [Fact]
    public async Task SetInAnActivity_TheMastersOperationAndTheOtherWorkersObserver_ShareItsTrace()
    {
        this.Listen();
        var observer = await this.SpawnReadyAsync("traced-observe", "traced/k");
        var writer = await this.ReportAfterExitAsync<TracedSetScenario.Report>(await this.SpawnAsync("traced-set", "traced/k", "42"));
        var seen = await this.ReportAfterExitAsync<TracedObserveScenario.Report>(observer);

        // The master's activity is the child of the writer's, and stopped before it answered.
        var set = Assert.Single(this.stopped, a => a.TraceId.ToHexString() == writer.TraceId);
        Assert.Equal("set", set.OperationName);
        Assert.Equal(ActivityKind.Server, set.Kind);
        Assert.NotNull(set.Source.Version);
        Assert.Equal(Diagnostics.LibraryVersion.Value, set.Source.Version);
        Assert.Equal(writer.SpanId, set.ParentSpanId.ToHexString());

        // The observer ran in an activity of the same trace, the child of the master's.
        Assert.Equal(writer.Version, seen.Version);
        Assert.Equal(SharedMemoryTracing.ActivitySourceName, seen.Source);
        Assert.Equal(Diagnostics.StoreActivities.DeliveryName, seen.Name);
        Assert.Equal(nameof(ActivityKind.Consumer), seen.Kind);
        Assert.Equal(writer.TraceId, seen.TraceId);
        Assert.Equal(set.SpanId.ToHexString(), seen.ParentSpanId);
    }

    [Fact]
    public async Task AWorkerThatListens_StartsAClientActivityPerCall_TheParentOfTheMastersOperation()
    {
        this.Listen();
        var writer = await this.ReportAfterExitAsync<TracedSetScenario.Report>(await this.SpawnAsync("traced-set", "traced/c", "1", "listen"));

        // The writer's activity, then the worker's call (client), then the master's operation (server): one trace.
        var client = writer.Client;
        Assert.NotNull(client);
        Assert.Equal(("set", nameof(ActivityKind.Client), "set", writer.SpanId), (client.Name, client.Kind, client.Method, client.ParentSpanId));
        var set = Assert.Single(this.stopped, a => a.TraceId.ToHexString() == writer.TraceId);
        Assert.Equal((ActivityKind.Server, client.SpanId), (set.Kind, set.ParentSpanId.ToHexString()));

        // The call's activity ended with it, and the caller's own is current again.
        Assert.Equal(writer.SpanId, writer.CurrentAfter);
    }

    [Fact]
    public async Task WithoutAListenerInTheMaster_TheObserversActivity_IsTheChildOfTheWritersActivity()
    {
        // The master starts nothing, and its change carries the writer's context on as it came.
        var observer = await this.SpawnReadyAsync("traced-observe", "traced/k");
        var writer = await this.ReportAfterExitAsync<TracedSetScenario.Report>(await this.SpawnAsync("traced-set", "traced/k", "42"));
        var seen = await this.ReportAfterExitAsync<TracedObserveScenario.Report>(observer);

        Assert.Equal(SharedMemoryTracing.ActivitySourceName, seen.Source);
        Assert.Equal(writer.TraceId, seen.TraceId);
        Assert.Equal(writer.SpanId, seen.ParentSpanId);
    }

    [Fact]
    public async Task AnUntracedSet_ReachesTheOtherWorker_WithNoTraceContext()
    {
        // The observer listens; nobody else does, and the writer is in no activity: its change carries no context,
        // so the observer's OnNext runs in no activity.
        var observer = await this.SpawnReadyAsync("traced-observe", "traced/k");
        await this.ReportAfterExitAsync(await this.SpawnAsync("set", "traced/k", "42"));
        var seen = await this.ReportAfterExitAsync<TracedObserveScenario.Report>(observer);

        Assert.Null(seen.Source);
    }

    [Fact]
    public async Task AnUntracedSet_WithAListenerInTheMaster_IsARootThere_AndItsChangeCarriesIt()
    {
        this.Listen();
        var observer = await this.SpawnReadyAsync("traced-observe", "traced/k");
        var writer = await this.ReportAfterExitAsync<SetScenario.Report>(await this.SpawnAsync("set", "traced/k", "42"));
        var seen = await this.ReportAfterExitAsync<TracedObserveScenario.Report>(observer);

        var set = Assert.Single(this.stopped, a => a.OperationName == "set" && a.TraceId.ToHexString() == seen.TraceId);
        Assert.Null(set.ParentId);
        Assert.Equal(default, set.ParentSpanId);
        Assert.Equal(set.SpanId.ToHexString(), seen.ParentSpanId);
        Assert.Equal(writer.Versions["traced/k"], seen.Version);
    }

    [Fact]
    public async Task ARequestOfItsOwn_IsTheChildOfItsCallersActivity_AndItsChangeCarriesTheMastersActivity()
    {
        this.Listen();
        await using var pair = await InProcessConnection.StartAsync(this.TimeoutToken);
        using var committed = new CommittedChanges(pair.Engine.Store, "k");
        using var caller = new Activity("caller").SetIdFormat(ActivityIdFormat.W3C).Start();

        await pair.Worker.InvokeWithCancellationAsync<long>(RpcMethods.Set, ["k", 1], this.TimeoutToken);

        var set = Assert.Single(this.stopped, a => a.OperationName == "set");
        Assert.Equal(caller.TraceId, set.TraceId);
        Assert.Equal(caller.SpanId, set.ParentSpanId);
        Assert.Equal(set.Id, (await committed.NextAsync(this.TimeoutToken)).TraceParent);
    }

    [Fact]
    public async Task AFailedOperation_IsMarkedWithItsErrorType_NotItsMessage()
    {
        this.Listen();
        await using var pair = await InProcessConnection.StartAsync(this.TimeoutToken);
        await pair.Worker.InvokeWithCancellationAsync<long>(RpcMethods.Set, ["secret/key", "text"], this.TimeoutToken);

        await Assert.ThrowsAsync<RemoteInvocationException>(() => pair.Worker.InvokeWithCancellationAsync<JsonElement>(RpcMethods.Increment, ["secret/key", 1], this.TimeoutToken));

        var increment = Assert.Single(this.stopped, a => a.OperationName == "increment");
        Assert.Equal(ActivityStatusCode.Error, increment.Status);
        Assert.Null(increment.StatusDescription); // the message names the key
        Assert.Equal(typeof(InvalidOperationException).FullName, increment.GetTagItem("error.type"));
    }

    [Fact]
    public async Task AMastersOwnWrite_CarriesItsCallersContext_AndItsExpiryCarriesNone()
    {
        // The first deadline starts the expiry thread, here inside the caller's activity.
        using var committed = new CommittedChanges(((MemoryEngine)this.Master.Engine).Store, "ttl/");
        string? callerTraceParent;
        using (var caller = new Activity("caller").SetIdFormat(ActivityIdFormat.W3C).Start())
        {
            callerTraceParent = caller.Id;
            await this.Master.Store.SetAsync("ttl/k", 1, new SetOptions { TimeToLive = TimeSpan.FromMilliseconds(50) }, this.TimeoutToken);
        }

        var set = await committed.NextAsync(this.TimeoutToken);
        var expired = await committed.NextAsync(this.TimeoutToken);

        Assert.Equal((KeyChangeKind.Set, callerTraceParent), (set.Kind, set.TraceParent));
        Assert.Equal((KeyChangeKind.Expired, null), (expired.Kind, expired.TraceParent));
    }

    [Fact]
    public async Task AMastersOwnOperations_EachStartAnActivity_ItsChangeCarriesIt_AndAFailureIsMarked()
    {
        this.Listen();
        using var committed = new CommittedChanges(((MemoryEngine)this.Master.Engine).Store, "own/");
        string? callerTraceParent;
        using (var caller = new Activity("caller").SetIdFormat(ActivityIdFormat.W3C).Start())
        {
            callerTraceParent = caller.Id;
            await this.Master.Store.SetAsync("own/k", "text", this.TimeoutToken);
            await this.Master.Store.GetAsync<string>("own/k", this.TimeoutToken);
            await Assert.ThrowsAsync<InvalidOperationException>(() => this.Master.Store.IncrementAsync("own/k", 1, this.TimeoutToken).AsTask());
            await this.Master.Store.DeleteAsync("own/k", this.TimeoutToken);
        }

        var set = Assert.Single(this.stopped, a => a.OperationName == RpcMethods.Set);
        Assert.Equal((ActivityKind.Internal, callerTraceParent), (set.Kind, set.Parent?.Id));
        var setChange = await committed.NextAsync(this.TimeoutToken);
        Assert.Equal((KeyChangeKind.Set, set.Id), (setChange.Kind, setChange.TraceParent));
        var deletion = await committed.NextAsync(this.TimeoutToken);
        Assert.Equal((KeyChangeKind.Deleted, Assert.Single(this.stopped, a => a.OperationName == RpcMethods.Delete).Id), (deletion.Kind, deletion.TraceParent));
        Assert.Single(this.stopped, a => a.OperationName == RpcMethods.Get);
        var increment = Assert.Single(this.stopped, a => a.OperationName == RpcMethods.Increment);
        Assert.Equal((ActivityStatusCode.Error, typeof(InvalidOperationException).FullName), (increment.Status, increment.GetTagItem("error.type")));
    }

    public void Dispose() => this.listener?.Dispose();

    /// <summary>Records every activity of the library's source that stops in this process from now on.</summary>
    private void Listen()
    {
        this.listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == SharedMemoryTracing.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = this.stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(this.listener);
    }
}
