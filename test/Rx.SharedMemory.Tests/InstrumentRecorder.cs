using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Rx.SharedMemory.Tests;

/// <summary>Records what one of the library's instruments measures while it lives. Instruments are process-wide: use it in the non-parallel collection.</summary>
/// <typeparam name="T">The instrument's value type.</typeparam>
internal sealed class InstrumentRecorder<T> : IDisposable
    where T : struct
{
    private readonly MeterListener listener = new();

    public InstrumentRecorder(string instrumentName)
    {
        this.listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == SharedMemoryMetrics.MeterName && instrument.Name == instrumentName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        this.listener.SetMeasurementEventCallback<T>((_, value, tags, _) => this.Measurements.Enqueue((value, tags.Length > 0 ? tags[0].Value as string : null)));
        this.listener.Start();
    }

    /// <summary>Gets each measurement with the value of its first tag, if any.</summary>
    public ConcurrentQueue<(T Value, string? Tag)> Measurements { get; } = new();

    public void Dispose() => this.listener.Dispose();
}
