using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Reactive.Linq;
using System.Runtime.InteropServices;

namespace Rx.SharedMemory.Tests;

/// <summary>The master's meter comes from the factory it is given, with a duration per operation and what it holds as observable instruments.</summary>
public sealed partial class OperationMetricsTests : WorkerProcessTestBase, IDisposable
{
    private readonly TestMeterFactory factory;
    private readonly MeterListener listener = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> measured = new();

    // Completed, and replaced, at each measurement: what a test awaits for one that lands after the change it saw.
    private TaskCompletionSource recordedSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public OperationMetricsTests()
        : this(new TestMeterFactory())
    {
    }

    private OperationMetricsTests(TestMeterFactory factory)
        : base(new SharedMemoryOptions { MeterFactory = factory })
    {
        this.factory = factory;
        this.listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Scope == this.factory && instrument.Meter.Name == SharedMemoryMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        this.listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => this.Record(instrument, value, tags));
        this.listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => this.Record(instrument, value, tags));
        this.listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => this.Record(instrument, value, tags));
        this.listener.Start();
    }

    [Fact]
    public async Task Operations_AreTimedPerOperation_AndWhatTheMasterHolds_IsObserved()
    {
        var exits = this.Master.WorkerExited.Replay();
        using var exitsConnection = exits.Connect();
        await this.Master.Store.SetAsync("a", 1, this.TimeoutToken);
        var setter = await this.SpawnAsync("set", "k1", """{"n":1}""", "k2", "2");
        await this.ReportAfterExitAsync(setter);
        var getter = await this.SpawnAsync("get", "k1");
        await this.ReportAfterExitAsync(getter);
        var holder = await this.SpawnReadyAsync("subscribe-hold", "w", "2");

        // A worker leaves the master's table just before WorkerExited reports it. The holder's ready/ set is timed once
        // it has run, which can be after its change reached this test.
        await this.FirstAsync(exits, e => e.Worker.Id == getter.Worker.Id);
        await this.UntilMeasuredAsync(() => this.measured.Count(m => m.Instrument == "rx.sharedmemory.operation.duration" && Operation(m) == "set") >= 3);

        var durations = this.Taken("rx.sharedmemory.operation.duration");
        Assert.Equal(3, durations.Count(m => Operation(m) == "set")); // two by the setter, one ready/ by the holder
        Assert.Equal(1, durations.Count(m => Operation(m) == "get"));
        Assert.Equal(2, durations.Count(m => Operation(m) == "subscribe"));
        Assert.All(durations, m => Assert.InRange(m.Value, double.Epsilon, 60));
        Assert.DoesNotContain(durations, m => m.Tags.ContainsKey("error.type"));
        Assert.DoesNotContain(durations, m => Operation(m) == "hello");

        this.listener.RecordObservableInstruments();
        Assert.All(this.measured.Where(m => m.Instrument is not ("rx.sharedmemory.batch.calls" or "rx.sharedmemory.operation.duration")), m => Assert.Equal(this.Master.Metrics.MasterId, m.Tags["rx.sharedmemory.master.id"]));
        string ready = $"ready/{holder.Worker.Id}";
        Assert.Equal(4, this.Single("rx.sharedmemory.key.count")); // a, k1, k2 and ready/
        Assert.Equal(("a1".Length) + ("k1" + """{"n":1}""").Length + ("k22".Length) + (ready + "true").Length, this.Single("rx.sharedmemory.store.size"));
        Assert.Equal(1, this.Single("rx.sharedmemory.worker.count"));
        double subscriptions = this.Single("rx.sharedmemory.subscription.count");
        Assert.Equal(this.Master.SubscriptionCount, subscriptions);
        Assert.InRange(subscriptions, 2, 3); // the holder's two, and Changes while SpawnReadyAsync unsubscribes
        Assert.Equal(this.Master.Version, this.Single("rx.sharedmemory.change_log.length"));
        var queue = Assert.Single(this.Taken("rx.sharedmemory.connection.queue.length"));
        Assert.Equal(holder.Worker.Id, queue.Tags["rx.sharedmemory.worker.id"]);
        Assert.Equal(this.Master.Metrics.MasterId, queue.Tags["rx.sharedmemory.master.id"]);
        Assert.Equal(0, queue.Value);

        // The factory's meter outlives the master: its observable instruments then report nothing.
        Assert.Equal(4, this.Taken("rx.sharedmemory.batch.calls").Sum(m => m.Value)); // the earlier instruments are on the factory's meter too
        await this.Master.DisposeAsync();
        this.measured.Clear();
        this.listener.RecordObservableInstruments();
        Assert.Empty(this.measured);
    }

    [Fact]
    public async Task AConnectionsQueuedChanges_AreObserved_WhileItsWorkerDoesNotRead()
    {
        // A master of its own whose connections hold little unwritten, so that changes queue soon.
        await using var master = new SharedMemoryMaster(new SharedMemoryOptions { MeterFactory = this.factory, MaxConnectionBufferBytes = 64 * 1024 });
        var ready = master.Changes.Where(c => c.Key.StartsWith("ready/", StringComparison.Ordinal)).Replay();
        using var readiness = ready.Connect();
        var holder = await this.SpawnOnAsync(master, "subscribe-hold", "w", "1");
        await this.FirstAsync(ready, c => c.Key == $"ready/{holder.Worker.Id}");

        Assert.Equal(0, kill(holder.Worker.Process.Id, SigStop));
        try
        {
            // 3,000 changes of about 1 KB to a key it watches: the pipe, the connection's 64 KiB and the batch being
            // written took 488 to 500 of 1,000 in two runs; the rest wait in the queue.
            string padding = new('x', 1_000);
            for (int i = 0; i < 3_000; i++)
            {
                await master.Store.SetAsync("w", $"{i}{padding}", this.TimeoutToken);
            }

            this.measured.Clear();
            this.listener.RecordObservableInstruments();
            var queue = Assert.Single(this.Taken("rx.sharedmemory.connection.queue.length"), m => (int)m.Tags["rx.sharedmemory.master.id"]! == master.Metrics.MasterId);
            Assert.Equal(holder.Worker.Id, queue.Tags["rx.sharedmemory.worker.id"]);
            Assert.InRange(queue.Value, 1_500, 3_000);
        }
        finally
        {
            Assert.Equal(0, kill(holder.Worker.Process.Id, SigCont));
        }
    }

    [Fact]
    public async Task AFailedOperation_IsTimedWithItsErrorType()
    {
        await using var connection = await InProcessConnection.StartAsync(this.TimeoutToken, this.Master.Metrics);
        await connection.Worker.InvokeWithCancellationAsync<long>("set", ["text", "not a number"], this.TimeoutToken);

        await Assert.ThrowsAsync<StreamJsonRpc.RemoteInvocationException>(() => connection.Worker.InvokeWithCancellationAsync<object>("increment", ["text"], this.TimeoutToken));

        var increment = Assert.Single(this.Taken("rx.sharedmemory.operation.duration"), m => Operation(m) == "increment");
        Assert.Equal(typeof(InvalidOperationException).FullName, increment.Tags["error.type"]);
    }

    [Fact]
    public async Task MastersSharingAFactory_EachReportTheirOwnSeries_AndADisposedOneNone()
    {
        await using var other = new SharedMemoryMaster(new SharedMemoryOptions { MeterFactory = this.factory });
        Assert.Same(this.Master.Metrics.Meter, other.Metrics.Meter); // the factory gives one meter per name
        Assert.NotEqual(this.Master.Metrics.MasterId, other.Metrics.MasterId);
        await this.Master.Store.SetAsync("a", 1, this.TimeoutToken);

        this.listener.RecordObservableInstruments();
        var keys = this.Taken("rx.sharedmemory.key.count").ToDictionary(m => (int)m.Tags["rx.sharedmemory.master.id"]!, m => m.Value);
        Assert.Equal(new Dictionary<int, double> { [this.Master.Metrics.MasterId] = 1, [other.Metrics.MasterId] = 0 }, keys);

        await other.DisposeAsync();
        this.measured.Clear();
        this.listener.RecordObservableInstruments();
        Assert.All(this.measured, m => Assert.Equal(this.Master.Metrics.MasterId, m.Tags["rx.sharedmemory.master.id"])); // nothing else was measured
        Assert.NotEmpty(this.measured);
    }

    [Fact]
    public async Task ADisposedMaster_IsNotKeptAliveByTheFactorysMeter()
    {
        var master = await DisposedMasterAsync(this.factory);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(master.IsAlive, "The factory's meter keeps the disposed master (and its store) alive.");
        GC.KeepAlive(this.factory);
    }

    [Fact]
    public async Task WithoutAFactory_TheMastersOwnMeter_IsDisposedWithIt()
    {
        var completed = new ConcurrentQueue<string>();
        using var own = new MeterListener();
        var master = new SharedMemoryMaster();
        own.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter == master.Metrics.Meter)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        own.MeasurementsCompleted = (instrument, _) => completed.Enqueue(instrument.Name);
        own.Start();
        Assert.Null(master.Metrics.Meter.Scope);
        Assert.NotNull(master.Metrics.Meter.Version);
        Assert.Equal(Diagnostics.LibraryVersion.Value, master.Metrics.Meter.Version);
        await master.DisposeAsync();
        Assert.Contains("rx.sharedmemory.operation.duration", completed);
        Assert.Contains("rx.sharedmemory.key.count", completed);
    }

    public void Dispose()
    {
        this.listener.Dispose();
        this.factory.Dispose();
    }

    [Theory]
    [InlineData(TestEngine.Memory)]
    [InlineData(TestEngine.Redis)]
    public async Task AWorkerThatAwaitsEachAnswer_IsNeverCountedAsAReadPause(TestEngine engine)
    {
        // On Redis each request holds the next read until it has run: no sign of a worker that does not read its answers.
        await using var master = await this.StartMasterAsync(engine, new SharedMemoryOptions { MeterFactory = this.factory });
        var sets = Enumerable.Range(1, 10).SelectMany(i => new[] { $"k{i}", $"{i}" }).ToArray();
        await this.ReportAfterExitAsync(await this.SpawnOnAsync(master, "set", sets));
        await this.UntilMeasuredAsync(() => this.measured.Count(m => m.Instrument == "rx.sharedmemory.operation.duration" && Operation(m) == "set") >= 10);

        Assert.DoesNotContain(this.measured, m => m.Instrument == "rx.sharedmemory.connection.read_pauses");
    }

    /// <summary>A master on <paramref name="factory"/> that did some work and is disposed, held only weakly.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> DisposedMasterAsync(TestMeterFactory factory)
    {
        var master = new SharedMemoryMaster(new SharedMemoryOptions { MeterFactory = factory });
        await master.Store.SetAsync("k", new string('x', 1000));
        await master.DisposeAsync();
        return new WeakReference(master);
    }

    private static string? Operation((string Instrument, double Value, Dictionary<string, object?> Tags) m) =>
        m.Tags.TryGetValue("rx.sharedmemory.operation", out var name) ? name as string : null;

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            copy[tag.Key] = tag.Value;
        }

        this.measured.Enqueue((instrument.Name, value, copy));
        Interlocked.Exchange(ref this.recordedSignal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Completes once <paramref name="done"/> holds, looking again at each measurement.</summary>
    private async Task UntilMeasuredAsync(Func<bool> done)
    {
        while (true)
        {
            var next = Volatile.Read(ref this.recordedSignal);
            if (done())
            {
                return;
            }

            await next.Task.WaitAsync(this.TimeoutToken);
        }
    }

    /// <summary>Takes every measurement so far of one instrument, leaving the others.</summary>
    private List<(string Instrument, double Value, Dictionary<string, object?> Tags)> Taken(string instrument)
    {
        var all = new List<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        var others = new List<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        while (this.measured.TryDequeue(out var m))
        {
            (m.Instrument == instrument ? all : others).Add(m);
        }

        foreach (var m in others)
        {
            this.measured.Enqueue(m);
        }

        return all;
    }

    private double Single(string instrument) => Assert.Single(this.Taken(instrument)).Value;

    private const int SigStop = 19;
    private const int SigCont = 18;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
