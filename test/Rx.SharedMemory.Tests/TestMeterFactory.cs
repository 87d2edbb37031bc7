using System.Diagnostics.Metrics;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A meter factory whose meters carry it as their scope, so that a listener hears one test's instruments and no other
/// test's. As the host's factory does, it gives the same meter to every call with the same name and version.
/// </summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> meters = [];

    public Meter Create(MeterOptions options)
    {
        lock (this.meters)
        {
            if (this.meters.Find(m => m.Name == options.Name && m.Version == options.Version) is { } made)
            {
                return made;
            }

            options.Scope = this;
            var meter = new Meter(options);
            this.meters.Add(meter);
            return meter;
        }
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
