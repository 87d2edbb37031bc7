using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Rx.SharedMemory.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// What a master on Redis reports of the store: gauges (each master of a store reports all of it), served from what
/// the engine last read in the background, never read from Redis on the listener's thread.
/// </summary>
public sealed class RedisMetricsTests : TestBase, IDisposable
{
    private readonly RedisServer server = RedisServer.Start();
    private readonly TestMeterFactory factory = new();

    [Fact]
    public async Task StoreCounts_AreGauges_FromTheLastRead_AndNoneOnceARead_Failed()
    {
        // A long lease: its loop, which reads the size, does not come round during the test.
        var store = new RedisStoreOptions { Configuration = this.server.Configuration, StoreName = "metrics", LeaseTime = TimeSpan.FromMinutes(5) };
        await using var master = await RedisSharedMemory.StartMasterAsync(store, new SharedMemoryOptions { MeterFactory = this.factory }, cancellationToken: this.TimeoutToken);
        var engine = (RedisEngine)master.Engine;
        var keys = new ConcurrentQueue<(Instrument Instrument, long Value)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == this.factory && instrument.Name == "rx.sharedmemory.key.count")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => keys.Enqueue((instrument, value)));
        listener.Start();

        await master.Store.SetAsync("a", 1, this.TimeoutToken);
        await engine.RefreshSizeAsync();
        listener.RecordObservableInstruments();
        var first = Assert.Single(keys);
        Assert.IsType<ObservableGauge<long>>(first.Instrument);
        Assert.Equal(1, first.Value);

        // Redis gone: a collection makes no round trip and throws nothing; it reports what was last read.
        this.server.Kill();
        keys.Clear();
        listener.RecordObservableInstruments();
        Assert.Equal(1, Assert.Single(keys).Value);

        // Once a read has failed, nothing: a value of unknown age is not reported.
        await engine.RefreshSizeAsync();
        keys.Clear();
        listener.RecordObservableInstruments();
        Assert.Empty(keys);

        this.server.Restart();
    }

    public void Dispose()
    {
        this.factory.Dispose();
        this.server.Dispose();
    }
}
