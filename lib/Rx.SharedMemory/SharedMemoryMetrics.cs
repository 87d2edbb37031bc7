using System.Diagnostics.Metrics;

namespace Rx.SharedMemory;

/// <summary>
/// The library's instruments, on the <see cref="MeterName"/> meter (read them with <c>dotnet-counters</c>, OpenTelemetry
/// or a <see cref="MeterListener"/>). Each master has its meter: the one <see cref="SharedMemoryOptions.MeterFactory"/>
/// gives (the same to every master it serves), or one of its own, disposed with it. The README lists every instrument.
/// </summary>
public static class SharedMemoryMetrics
{
    /// <summary>The name of the meter the master publishes on.</summary>
    public const string MeterName = "Rx.SharedMemory";

    internal static readonly KeyValuePair<string, object?> Expired = new("reason", "expired");

    internal static readonly KeyValuePair<string, object?> Evicted = new("reason", "evicted");

    internal static readonly KeyValuePair<string, object?> ToMaster = new("direction", "to_master");

    internal static readonly KeyValuePair<string, object?> ToWorker = new("direction", "to_worker");
}
