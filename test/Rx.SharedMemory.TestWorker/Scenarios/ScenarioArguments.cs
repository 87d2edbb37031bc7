using System.Globalization;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>A scenario's command-line arguments, read in the invariant culture.</summary>
internal sealed class ScenarioArguments(string[] values)
{
    /// <summary>Gets how many arguments there are.</summary>
    public int Count => values.Length;

    /// <summary>Gets every argument.</summary>
    public IReadOnlyList<string> All => values;

    /// <summary>Gets the argument at <paramref name="index"/>.</summary>
    public string this[int index] => values[index];

    public int Int(int index) => int.Parse(values[index], CultureInfo.InvariantCulture);

    public long Long(int index) => long.Parse(values[index], CultureInfo.InvariantCulture);

    public double Double(int index) => double.Parse(values[index], CultureInfo.InvariantCulture);

    /// <summary>The worker's queue bounds for its observers, when arguments 1 and 2 (CAPACITY MAXBYTES) are given; else the defaults.</summary>
    public SharedMemoryWorkerOptions? ObserverQueueBounds() => values.Length > 2
        ? new SharedMemoryWorkerOptions { SubscriberQueueCapacity = this.Int(1), SubscriberQueueMaxBytes = this.Long(2) }
        : null;
}
