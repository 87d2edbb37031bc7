using System.Diagnostics;
using System.Diagnostics.Metrics;
using Rx.SharedMemory.Engine;

namespace Rx.SharedMemory.Diagnostics;

/// <summary>
/// One master's instruments, on the <see cref="SharedMemoryMetrics.MeterName"/> meter of the library's version: the
/// factory's when <see cref="SharedMemoryOptions.MeterFactory"/> is set (the factory owns it, and gives the same meter
/// to every master it serves), else one of the master's own, disposed with it. The README lists every instrument.
/// </summary>
internal sealed class MasterMetrics : IDisposable
{
    /// <summary>The tag that names an operation: its method name on the wire.</summary>
    public const string OperationTag = "rx.sharedmemory.operation";

    /// <summary>
    /// The tag of the observed instruments that tells masters of one process apart: masters that share a factory share
    /// its meter, and meters of one name are one scope to an exporter, so each master's series needs its own tag.
    /// </summary>
    public const string MasterTag = "rx.sharedmemory.master.id";

    /// <summary>The tag that names a worker connection: the id the master gave the worker.</summary>
    public const string WorkerTag = "rx.sharedmemory.worker.id";

    /// <summary>The OpenTelemetry tag for the kind of a failure: the exception's type.</summary>
    public const string ErrorTypeTag = "error.type";

    // Seconds, from a get's tens of microseconds to a lock wait of ten seconds: the default boundaries are made for
    // milliseconds.
    private static readonly IReadOnlyList<double> DurationBoundaries =
        [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    // Numbers the masters of this process, from 1, for MasterTag: only those that ObserveMaster, so that neither
    // Unowned nor a RedisSharedStore's instruments take a number.
    private static int lastMasterId;

    private readonly Meter meter;
    private readonly bool ownsMeter;
    private KeyValuePair<string, object?> masterTag;

    // What the observed instruments read; null before ObserveMaster and once disposed. The instruments' callbacks hold
    // this instance, never the master: a factory's meter outlives the master, and must not keep it (or its store) alive.
    private volatile MasterState? observed;

    /// <summary>Initializes a new instance of the <see cref="MasterMetrics"/> class.</summary>
    /// <param name="meterFactory">The factory to take the meter from; null for a meter of this instance's own.</param>
    public MasterMetrics(IMeterFactory? meterFactory)
    {
        this.ownsMeter = meterFactory is null;
        var options = new MeterOptions(SharedMemoryMetrics.MeterName) { Version = LibraryVersion.Value };
        this.meter = meterFactory?.Create(options) ?? new Meter(options);
        this.OperationDuration = this.meter.CreateHistogram(
            "rx.sharedmemory.operation.duration",
            "s",
            "Duration of the store operations the master runs for its workers, by operation; a lock's includes its wait.",
            tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBoundaries });
        this.BatchCalls = this.meter.CreateHistogram<int>("rx.sharedmemory.batch.calls", "{call}", "Calls carried by one batch request.");
        this.SharedRegionBytes = this.meter.CreateCounter<long>("rx.sharedmemory.shared_region.bytes", "By", "Bytes of large values moved through shared memory.");
        this.KeysRemoved = this.meter.CreateCounter<long>("rx.sharedmemory.keys.removed", "{key}", "Keys removed by expiry or eviction.");
        this.ChangesConflated = this.meter.CreateCounter<long>("rx.sharedmemory.changes.conflated", "{change}", "Changes replaced in a subscriber's queue by a newer one to the same key.");
        this.ReadPauses = this.meter.CreateCounter<long>("rx.sharedmemory.connection.read_pauses", "{pause}", "Times the master stopped reading a worker's requests until the worker read its answers.");
    }

    /// <summary>Gets the instruments of stores and queues that no master owns (tests build them alone).</summary>
    public static MasterMetrics Unowned { get; } = new(null);

    /// <summary>Gets the meter, for tests.</summary>
    internal Meter Meter => this.meter;

    /// <summary>Gets the value of <see cref="MasterTag"/> on this master's observed instruments; 0 before <see cref="ObserveMaster"/>.</summary>
    internal int MasterId => this.masterTag.Value is int id ? id : 0;

    /// <summary>Gets the duration of each operation a worker calls, tagged <see cref="OperationTag"/> and, when it failed, <see cref="ErrorTypeTag"/>.</summary>
    public Histogram<double> OperationDuration { get; }

    /// <summary>Gets the number of calls in each <c>batch</c> request the master runs: how much the worker's batching saves.</summary>
    public Histogram<int> BatchCalls { get; }

    /// <summary>Gets the bytes of large values that travelled through shared memory instead of the pipe, tagged <c>direction</c>.</summary>
    public Counter<long> SharedRegionBytes { get; }

    /// <summary>Gets the keys removed by the store itself, tagged <c>reason</c> = <c>expired</c> or <c>evicted</c>.</summary>
    public Counter<long> KeysRemoved { get; }

    /// <summary>Gets the changes a slow subscriber's queue replaced by a newer change to the same key.</summary>
    public Counter<long> ChangesConflated { get; }

    /// <summary>
    /// Gets the times the master stopped reading a worker's requests because the answers and changes waiting for that
    /// worker reached <see cref="SharedMemoryOptions.MaxConnectionBufferBytes"/>.
    /// </summary>
    public Counter<long> ReadPauses { get; }

    /// <summary>Records an operation's duration from <paramref name="startedAt"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public void RecordOperation(string operation, long startedAt, Exception? failure)
    {
        if (!this.OperationDuration.Enabled)
        {
            return;
        }

        double seconds = Stopwatch.GetElapsedTime(startedAt).TotalSeconds;
        var name = new KeyValuePair<string, object?>(OperationTag, operation);
        if (failure is null)
        {
            this.OperationDuration.Record(seconds, name);
        }
        else
        {
            this.OperationDuration.Record(seconds, name, new KeyValuePair<string, object?>(ErrorTypeTag, failure.GetType().FullName));
        }
    }

    /// <summary>
    /// Publishes what a master holds as observable instruments, read when a listener collects, each measurement tagged
    /// <see cref="MasterTag"/>. Once this instance is disposed they report nothing, and hold nothing of the master.
    /// </summary>
    public void ObserveMaster(MasterState state)
    {
        this.masterTag = new(MasterTag, Interlocked.Increment(ref lastMasterId));
        this.observed = state;

        // What the store holds: gauges, since masters that share a store (the Redis engine) each report the whole of
        // it, and a sum across them would count it again for each.
        this.meter.CreateObservableGauge("rx.sharedmemory.key.count", () => this.Single(static s => s.Size()?.Keys), "{key}", "Keys in the store.");
        this.meter.CreateObservableGauge("rx.sharedmemory.store.size", () => this.Single(static s => s.Size()?.Bytes), "By", "Bytes the store counts against MaxBytes: values' JSON and keys' UTF-8.");
        this.meter.CreateObservableGauge("rx.sharedmemory.change_log.length", () => this.Single(static s => s.Size()?.ChangeLogLength), "{change}", "Changes the change log holds for subscribers that resume.");

        // What this master holds: up-down counters, as OpenTelemetry advises for counts whose sum across masters or
        // connections means something.
        this.meter.CreateObservableUpDownCounter("rx.sharedmemory.worker.count", () => this.Single(static s => s.Workers()), "{worker}", "Worker processes the master runs: started, and whose exit it has not yet reported.");
        this.meter.CreateObservableUpDownCounter("rx.sharedmemory.subscription.count", () => this.Single(static s => s.Subscriptions()), "{subscription}", "Live subscriptions of this master, in-process and from every worker.");
        this.meter.CreateObservableUpDownCounter("rx.sharedmemory.connection.queue.length", this.QueuedChanges, "{change}", "Changes waiting to be sent to each worker connection, tagged with the worker's id.");
    }

    /// <summary>Stops the observed instruments' reading of the master, and disposes the meter when it is this instance's own.</summary>
    public void Dispose()
    {
        this.observed = null;
        if (this.ownsMeter)
        {
            this.meter.Dispose();
        }
    }

    /// <summary>One measurement of what <paramref name="read"/> reads; none when it has nothing, or fails: a listener's collection goes on with the other instruments.</summary>
    private IEnumerable<Measurement<long>> Single(Func<MasterState, long?> read)
    {
        if (this.observed is not { } state)
        {
            return [];
        }

        try
        {
            return read(state) is { } value ? [new Measurement<long>(value, this.masterTag)] : [];
        }
        catch (Exception)
        {
            return [];
        }
    }

    private IEnumerable<Measurement<long>> QueuedChanges()
    {
        if (this.observed is not { } state)
        {
            return [];
        }

        try
        {
            return state.QueuedChanges().Select(q => new Measurement<long>(q.Count, this.masterTag, new(WorkerTag, q.WorkerId)));
        }
        catch (Exception)
        {
            return [];
        }
    }

    /// <summary>
    /// What <see cref="ObserveMaster"/> reads; each function runs on the listener's thread, never under a lock of the
    /// master's, and never waits on I/O.
    /// </summary>
    /// <param name="Size">The store's keys, bytes and change log length (<see cref="IStoreEngine.Size"/>); null when not known.</param>
    /// <param name="Workers">The number of workers the master runs.</param>
    /// <param name="Subscriptions">The number of the master's subscriptions.</param>
    /// <param name="QueuedChanges">The changes waiting for each worker connection, by worker id.</param>
    public sealed record MasterState(
        Func<StoreSize?> Size,
        Func<long> Workers,
        Func<long> Subscriptions,
        Func<IReadOnlyList<(int WorkerId, long Count)>> QueuedChanges);
}
