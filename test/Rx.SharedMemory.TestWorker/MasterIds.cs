using System.Diagnostics.Metrics;

namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// Not a worker: the first two masters of a fresh process, reported as "master.id N" for each, in the order made, as
/// their observed key count tags them (the README: 1 for the first).
/// </summary>
internal static class MasterIds
{
    public static async Task RunAsync(Report report)
    {
        var ids = new List<object?>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == SharedMemoryMetrics.MeterName && instrument.Name == "rx.sharedmemory.key.count")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "rx.sharedmemory.master.id")
                {
                    ids.Add(tag.Value);
                }
            }
        });
        listener.Start();

        await using var first = new SharedMemoryMaster();
        listener.RecordObservableInstruments();
        await using var second = new SharedMemoryMaster();
        ids.Clear();
        listener.RecordObservableInstruments();
        foreach (var id in ids.Order())
        {
            report.Line($"master.id {id}");
        }
    }
}
