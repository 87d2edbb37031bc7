using System.Diagnostics.Metrics;

namespace Rx.SharedMemory;

/// <summary>
/// The library's instruments, on the <see cref="MeterName"/> meter (read them with <c>dotnet-counters</c>, OpenTelemetry
/// or a <see cref="MeterListener"/>).
/// </summary>
public static class SharedMemoryMetrics
{
    /// <summary>The name of the meter the master publishes on.</summary>
    public const string MeterName = "Rx.SharedMemory";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Gets the number of calls in each <c>batch</c> request the master runs: how much the worker's batching saves.</summary>
    internal static Histogram<int> BatchCalls { get; } = Meter.CreateHistogram<int>("rx.sharedmemory.batch.calls", "{call}", "Calls carried by one batch request.");

    /// <summary>
    /// Gets the bytes of large values that travelled through shared memory instead of the pipe, tagged
    /// <c>direction</c> = <c>to_master</c> or <c>to_worker</c>.
    /// </summary>
    internal static Counter<long> SharedRegionBytes { get; } = Meter.CreateCounter<long>("rx.sharedmemory.shared_region.bytes", "By", "Bytes of large values moved through shared memory.");

    /// <summary>Gets the keys removed by the store itself, tagged <c>reason</c> = <c>expired</c> or <c>evicted</c>.</summary>
    internal static Counter<long> KeysRemoved { get; } = Meter.CreateCounter<long>("rx.sharedmemory.keys.removed", "{key}", "Keys removed by expiry or eviction.");

    /// <summary>Gets the changes a slow subscriber's queue replaced by a newer change to the same key.</summary>
    internal static Counter<long> ChangesConflated { get; } = Meter.CreateCounter<long>("rx.sharedmemory.changes.conflated", "{change}", "Changes replaced in a subscriber's queue by a newer one to the same key.");

    /// <summary>
    /// Gets the times the master stopped reading a worker's requests because the answers and changes waiting for that
    /// worker reached <see cref="SharedMemoryOptions.MaxConnectionBufferBytes"/> (back-pressure on a worker that does not read).
    /// </summary>
    internal static Counter<long> ReadPauses { get; } = Meter.CreateCounter<long>("rx.sharedmemory.connection.read_pauses", "{pause}", "Times the master stopped reading a worker's requests until the worker read its answers.");

    internal static readonly KeyValuePair<string, object?> Expired = new("reason", "expired");

    internal static readonly KeyValuePair<string, object?> Evicted = new("reason", "evicted");

    internal static readonly KeyValuePair<string, object?> ToMaster = new("direction", "to_master");

    internal static readonly KeyValuePair<string, object?> ToWorker = new("direction", "to_worker");
}
