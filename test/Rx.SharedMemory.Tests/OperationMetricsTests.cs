using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Reactive.Linq;

namespace Rx.SharedMemory.Tests;

/// <summary>The master's meter comes from the factory it is given, with a duration per operation and what it holds as observable instruments.</summary>
public sealed class OperationMetricsTests : WorkerProcessTestBase, IDisposable
{
    private readonly TestMeterFactory factory;
    private readonly MeterListener listener = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> measured = new();

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

        // A worker leaves the master's table just before WorkerExited reports it.
        await this.FirstAsync(exits, e => e.Worker.Id == getter.Worker.Id);

        var durations = this.Taken("rx.sharedmemory.operation.duration");
        Assert.Equal(3, durations.Count(m => Operation(m) == "set")); // two by the setter, one ready/ by the holder
        Assert.Equal(1, durations.Count(m => Operation(m) == "get"));
        Assert.Equal(2, durations.Count(m => Operation(m) == "subscribe"));
        Assert.All(durations, m => Assert.InRange(m.Value, double.Epsilon, 60));
        Assert.DoesNotContain(durations, m => m.Tags.ContainsKey("error.type"));
        Assert.DoesNotContain(durations, m => Operation(m) == "hello");

        this.listener.RecordObservableInstruments();
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
        Assert.Equal(0, queue.Value);

        // The factory's meter outlives the master: its observable instruments then report nothing.
        Assert.Equal(4, this.Taken("rx.sharedmemory.batch.calls").Sum(m => m.Value)); // the earlier instruments are on the factory's meter too
        await this.Master.DisposeAsync();
        this.measured.Clear();
        this.listener.RecordObservableInstruments();
        Assert.Empty(this.measured);
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
        await master.DisposeAsync();
        Assert.Contains("rx.sharedmemory.operation.duration", completed);
        Assert.Contains("rx.sharedmemory.key.count", completed);
    }

    public void Dispose()
    {
        this.listener.Dispose();
        this.factory.Dispose();
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
}
