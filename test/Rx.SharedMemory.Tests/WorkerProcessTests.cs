using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;

namespace Rx.SharedMemory.Tests;

/// <summary>The core behaviours, with real worker processes over real anonymous pipes.</summary>
public sealed class WorkerProcessTests : WorkerProcessTestBase
{
    [Fact]
    public async Task Set_InOneWorker_IsReadInAnother()
    {
        var setter = await this.SpawnAsync("set", "a", "[0,1,2,3]");
        var setterReport = await this.ReportAfterExitAsync<SetScenario.Report>(setter);
        var getter = await this.SpawnAsync("get", "a", "missing");
        var getterReport = await this.ReportAfterExitAsync<GetScenario.Report>(getter);

        var version = setterReport.Versions["a"];
        Assert.Equal(
            [new GetScenario.Entry("a", true, version, "[0,1,2,3]"), new GetScenario.Entry("missing", false, null, null)],
            getterReport.Entries);
        var a = await this.Master.Store.GetAsync<int[]>("a", this.TimeoutToken);
        Assert.Equal([0, 1, 2, 3], a!);
    }

    [Fact]
    public async Task WorkerEvents_ComeOnlineThenExit_EvenForAWorkerThatExitsAtOnce()
    {
        var events = this.Master.WorkerOnline.Select(w => $"online {w.Id}").Merge(this.Master.WorkerExited.Select(e => $"exit {e.Worker.Id} {e.ExitCode}")).Replay();
        using var recording = events.Connect();

        var quick = await this.SpawnAsync("get", "nothing");
        await this.ReportAfterExitAsync(quick);
        var notAWorker = new System.Diagnostics.ProcessStartInfo(WorkerStartInfo.ForAssembly("unused").FileName, "--version");
        var refused = await Assert.ThrowsAsync<SharedMemoryWorkerStartException>(() => this.Master.SpawnWorkerAsync(notAWorker, this.TimeoutToken));

        Assert.Contains("exited with code 0 before it connected", refused.Message, StringComparison.Ordinal);
        Assert.Equal(["online 1", "exit 1 0", "exit 2 0"], await events.Take(3).ToArray().ToTask(this.TimeoutToken));
    }

    [Fact]
    public async Task WorkerExited_IsReportedOutsideTheContextOfTheSpawn()
    {
        var exited = new TaskCompletionSource<System.Diagnostics.Activity?>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watching = this.Master.WorkerExited.Subscribe(_ => exited.TrySetResult(System.Diagnostics.Activity.Current));
        (IWorker Worker, string Report) quick;
        using (new System.Diagnostics.Activity("spawner").Start())
        {
            quick = await this.SpawnAsync("get", "nothing");
        }

        await this.ReportAfterExitAsync(quick);
        Assert.Null(await exited.Task.WaitAsync(this.TimeoutToken));
    }

    [Fact]
    public async Task ProcessesAWorkerStarts_DoNotInheritItsPipesToTheMaster()
    {
        var report = await this.ReportAfterExitAsync<SpawnChildScenario.Report>(await this.SpawnAsync("spawn-child"));

        Assert.Collection(report.Pipes, pipe => Assert.Matches(@"^pipe:\[\d+\]$", pipe), pipe => Assert.Matches(@"^pipe:\[\d+\]$", pipe));
        Assert.Equal(0, report.Inherited);
    }

    /// <summary>
    /// A worker in another language may start a process that inherits its pipe descriptors, then die: the master
    /// learns of its death from its exit, reports it, and is disposed, without waiting for that process to end.
    /// </summary>
    [Fact]
    public async Task AWorkerWhoseChildInheritedItsPipes_IsReportedGone_AndItsMasterDisposes_WhileTheChildLives()
    {
        var master = await this.StartMasterAsync(TestEngine.Memory);
        string duration = Sleepers.NewDuration();
        try
        {
            var lines = await this.ReportAfterExitAsync(await this.SpawnOnAsync(master, "raw-child-holds-pipes", duration));
            Assert.Matches(@"^child \d+ holds ([2-9]|\d\d+) descriptors", lines.Single(l => l.StartsWith("child ", StringComparison.Ordinal)));

            await master.DisposeAsync().AsTask().WaitAsync(this.TimeoutToken);

            Assert.Single(Sleepers.Find(duration));
        }
        finally
        {
            await master.DisposeAsync();
            Sleepers.Kill(duration);
        }
    }

    [Fact]
    public async Task AProcessAWorkerStartsBeforeItConnects_InheritsNeitherThePipesVariablesNorTheirDescriptors()
    {
        var lines = await this.ReportAfterExitAsync(await this.SpawnAsync("child-before-connect"));

        Assert.Equal(["child variables |, closed closed", "worker True"], lines);
        Assert.True(await this.Master.Store.GetAsync<bool>("child-before-connect", this.TimeoutToken));
    }

    [Fact]
    public async Task AConnectGivenATokenCancelledAlready_TakesNothing_SoTheNextOneConnects()
    {
        var lines = await this.ReportAfterExitAsync(await this.SpawnAsync("connect-after-cancelled"));

        Assert.Equal(["cancelled"], lines);
        Assert.True(await this.Master.Store.GetAsync<bool>("connect-after-cancelled", this.TimeoutToken));
    }

    [Fact]
    public async Task ConnectedWorker_IsStillAWorkerProcess_AndASecondConnectFails_SayingItIsConnected()
    {
        var report = await this.ReportAfterExitAsync<ConnectTwiceScenario.Report>(await this.SpawnAsync("connect-twice"));

        Assert.True(report.IsWorkerProcessWhileConnected);
        Assert.Equal(typeof(InvalidOperationException).FullName, report.SecondConnectError);
        Assert.Contains("already connected to its master", report.SecondConnectMessage, StringComparison.Ordinal);
        Assert.True(report.IsWorkerProcessAfterSecondConnect);

        // The failed second connect left the first connection working.
        Assert.Equal(report.VersionAfterSecondConnect, (await this.Master.Store.GetEntryAsync<int>("connect-twice", this.TimeoutToken))!.Version);
    }

    [Fact]
    public async Task ProcessNotStartedByAMaster_IsNoWorkerProcess_AndEachConnectSaysSo()
    {
        Assert.False(SharedMemoryWorker.IsWorkerProcess);
        for (int attempt = 0; attempt < 2; attempt++)
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SharedMemoryWorker.ConnectAsync(this.TimeoutToken));
            Assert.Contains("not started by a SharedMemoryMaster", error.Message, StringComparison.Ordinal);
        }

        Assert.False(SharedMemoryWorker.IsWorkerProcess);
    }

    [Fact]
    public async Task Subscriber_InOtherWorker_SeesEveryChangeInOrder()
    {
        const int N = 500;
        await this.Master.Store.SetAsync("counter", 0, this.TimeoutToken);
        var committed = this.Master.Changes.Where(c => c.Key == "counter").Select(c => c.Version).Replay();
        using var recording = committed.Connect();

        var watcher = await this.SpawnReadyAsync("watch", "counter", N.ToString());
        var counter = await this.SpawnAsync("count", "counter", N.ToString());
        await this.ReportAfterExitAsync(counter);
        var changes = (await this.ReportAfterExitAsync<WatchScenario.Report>(watcher)).Changes;

        Assert.Equal(new WatchScenario.Change(KeyChangeKind.Reset, 1, 0, 0), changes[0]);
        changes = changes[1..];
        Assert.Equal(Enumerable.Range(1, N).Select(i => (long?)i), changes.Select(c => c.Value));
        Assert.All(changes, c => Assert.Equal(KeyChangeKind.Set, c.Kind));
        Assert.All(changes, c => Assert.Equal(0, c.Skipped));
        var versions = changes.Select(c => c.Version).ToArray();
        Assert.Equal(await committed.Take(N).ToArray().ToTask(this.TimeoutToken), versions);
        Assert.True(versions.Zip(versions.Skip(1)).All(p => p.First < p.Second), "versions must strictly increase");
    }

    [Fact]
    public async Task DisposedSubscription_ReceivesNothingMore_AndIsReleasedInTheMaster()
    {
        await this.Master.Store.SetAsync("k", 0, this.TimeoutToken);
        await this.Master.Store.SetAsync("end", false, this.TimeoutToken);
        var disposed = this.Master.Changes.Where(c => c.Key.StartsWith("disposed/", StringComparison.Ordinal)).Replay();
        using var recording = disposed.Connect();
        int baseline = this.Master.SubscriptionCount;
        var subscriber = await this.SpawnReadyAsync("unsubscribe", "k", "10");
        Assert.Equal(baseline + 2, this.Master.SubscriptionCount);

        for (int i = 1; i <= 10; i++)
        {
            await this.Master.Store.SetAsync("k", i, this.TimeoutToken);
        }

        await this.FirstAsync(disposed, _ => true);
        Assert.Equal(baseline + 1, this.Master.SubscriptionCount);
        for (int i = 11; i <= 30; i++)
        {
            await this.Master.Store.SetAsync("k", i, this.TimeoutToken);
        }

        await this.Master.Store.SetAsync("end", true, this.TimeoutToken);
        var report = await this.ReportAfterExitAsync<UnsubscribeScenario.Report>(subscriber);

        Assert.Equal(10, report.Received);
        Assert.Equal(0, report.AfterDispose);
        await subscriber.Worker.Exited.WaitAsync(this.TimeoutToken);
        Assert.Equal(baseline, this.Master.SubscriptionCount);
    }

    [Fact]
    public async Task KilledWorker_RaisesExit_ReleasesItsSubscriptions_AndOthersGoOn()
    {
        var exits = this.Master.WorkerExited.Replay();
        using var recording = exits.Connect();
        await this.Master.Store.SetAsync("flooded", 0L, this.TimeoutToken);
        int baseline = this.Master.SubscriptionCount;
        var echo = await this.SpawnReadyAsync("echo");
        var flood = await this.SpawnReadyAsync("flood", "flooded");
        var watcher = await this.SpawnReadyAsync("watch", "flooded", int.MaxValue.ToString());
        Assert.Equal(baseline + 2, this.Master.SubscriptionCount);

        // SIGKILL, mid-request: the flooding worker always has writes in flight.
        flood.Worker.Kill();
        watcher.Worker.Kill();
        var floodExit = await this.FirstAsync(exits, e => e.Worker.Id == flood.Worker.Id);
        await this.FirstAsync(exits, e => e.Worker.Id == watcher.Worker.Id);

        Assert.Equal(137, floodExit.ExitCode);
        Assert.Equal(baseline + 1, this.Master.SubscriptionCount);
        Assert.Equal([echo.Worker.Id], this.Master.Workers.Select(w => w.Id));
        var pong = this.Master.Store.Observe("pong/1").Where(c => c.Kind == KeyChangeKind.Set).Replay();
        using var pongs = pong.Connect();
        await this.Master.Store.SetAsync("ping/1", "still there?", this.TimeoutToken);
        Assert.Equal("still there?", (await this.FirstAsync(pong, _ => true)).GetValue<string>());
        var flooded = await this.Master.Store.GetEntryAsync<long>("flooded", this.TimeoutToken);
        Assert.NotNull(flooded);
        Assert.True(flooded.Value > 0);
    }

    [Fact]
    public async Task ObserverThatWaitsSynchronouslyOnTheStore_InAWorker_DoesNotDeadlock()
    {
        await this.SpawnReadyAsync("echo", "sync");
        var pong = this.Master.Store.ObservePrefix("pong/").Where(c => c.Kind == KeyChangeKind.Set).Take(3).ToArray().ToTask(this.TimeoutToken);

        for (int i = 1; i <= 3; i++)
        {
            await this.Master.Store.SetAsync($"ping/{i}", i, this.TimeoutToken);
        }

        Assert.Equal([1, 2, 3], (await pong).Select(c => c.GetValue<int>()));
    }

    [Fact]
    public async Task DisposedMaster_FailsPendingAndLaterCalls_AndEndsObservables_WithDisconnectedException()
    {
        await this.Master.Store.SetAsync("x", 1, this.TimeoutToken);
        var orphan = await this.SpawnReadyAsync("orphan");

        await this.Master.DisposeAsync();
        var report = await this.ReportAfterExitAsync<OrphanScenario.Report>(orphan);

        Assert.Equal(nameof(SharedMemoryDisconnectedException), report.Pending);
        Assert.Equal(nameof(SharedMemoryDisconnectedException), report.Later);
        Assert.Equal(nameof(SharedMemoryDisconnectedException), report.Observable);
    }

    [Fact]
    public async Task DisposedWorker_FailsLaterSubscriptions_WithObjectDisposed_AsItFailsCalls()
    {
        var report = await this.ReportAfterExitAsync<ObserveAfterDisposeScenario.Report>(await this.SpawnAsync("observe-after-dispose"));

        Assert.All(new[] { report.Get, report.Observe, report.ObservePrefix, report.Watch, report.Mirror }, outcome => Assert.Equal(nameof(ObjectDisposedException), outcome.Exception));
        Assert.All(new[] { report.Observe, report.ObservePrefix }, outcome => Assert.Contains(typeof(SharedMemoryWorker).FullName!, outcome.Message, StringComparison.Ordinal));
        Assert.False(report.Get.ThrownAtCallSite);
    }

    [Fact]
    public async Task Values_RoundTripThroughAWorker_Exactly()
    {
        var bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        const string Sample = """{"Int":-2147483648,"Long":9223372036854775807,"Double":0.1,"Decimal":79228162514264337593543950335,"Flag":true,"Text":"tab\t quote\" nul\u0000 é 中文 🎉","Numbers":[0,1,2,3],"Children":{"a":{"Int":1,"Long":2,"Double":-1.5E+300,"Decimal":0.0001,"Flag":false,"Text":"","Numbers":[],"Children":null,"Nothing":null},"b":null},"Nothing":null}""";
        const string Unicode = "A \u00e9 \u4e2d \ud83c\udf89 \u202e RTL \u0000 \\ \" end";
        const string Raw = """{"deep":[[[[{"x":[1.5,-0,1e-7,null,true,"s"]}]]]],"empty":{},"list":[]}""";
        await this.Master.Store.SetAsync("sample", JsonElement.Parse(Sample), this.TimeoutToken);
        await this.Master.Store.SetAsync("bytes", bytes, this.TimeoutToken);
        await this.Master.Store.SetAsync("unicode", Unicode, this.TimeoutToken);
        await this.Master.Store.SetAsync<object?>("null", null, this.TimeoutToken);
        await this.Master.Store.SetAsync("raw", JsonElement.Parse(Raw), this.TimeoutToken);

        await this.ReportAfterExitAsync(await this.SpawnAsync("roundtrip"));

        var store = this.Master.Store;
        var echoedBytes = await store.GetAsync<byte[]>("echo/bytes", this.TimeoutToken);
        Assert.Equal(bytes, echoedBytes);
        Assert.Equal(Convert.ToBase64String(bytes), await store.GetAsync<string>("echo/bytes", this.TimeoutToken));
        Assert.Equal(Unicode, await store.GetAsync<string>("echo/unicode", this.TimeoutToken));
        Assert.Equal(JsonValueKind.Null, (await store.GetEntryAsync<JsonElement>("echo/null", this.TimeoutToken))!.Value.ValueKind);
        Assert.True(JsonElement.DeepEquals(JsonElement.Parse(Raw), await store.GetAsync<JsonElement>("echo/raw", this.TimeoutToken)));
        var echoed = await store.GetAsync<JsonElement>("echo/sample", this.TimeoutToken);
        Assert.True(JsonElement.DeepEquals(JsonElement.Parse(Sample), echoed), echoed.GetRawText());
        Assert.Equal(0.1, echoed.GetProperty("Double").GetDouble());
        Assert.Equal(decimal.MaxValue, echoed.GetProperty("Decimal").GetDecimal());
    }
}
