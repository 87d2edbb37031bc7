using System.Diagnostics.Metrics;

namespace Rx.SharedMemory.Tests;

/// <summary>A meter factory whose meters carry it as their scope, so that a listener hears one master's instruments and no other test's.</summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> meters = [];

    public Meter Create(MeterOptions options)
    {
        options.Scope = this;
        var meter = new Meter(options);
        lock (this.meters)
        {
            this.meters.Add(meter);
        }

        return meter;
    }

    public void Dispose()
    {
        lock (this.meters)
        {
            foreach (var meter in this.meters)
            {
                meter.Dispose();
            }

            this.meters.Clear();
        }
    }
}
