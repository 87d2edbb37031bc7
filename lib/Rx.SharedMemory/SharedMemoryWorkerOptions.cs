namespace Rx.SharedMemory;

/// <summary>The settings of a <see cref="SharedMemoryWorker"/>, checked when it connects.</summary>
public sealed class SharedMemoryWorkerOptions
{
    /// <summary>
    /// Gets or sets how many changes may wait in the worker for its observers, which take them one at a time in the
    /// order the master sent them. Past it, a waiting change to the same key of the same subscription is replaced by
    /// the newer one, which counts it in <see cref="KeyChange.SkippedVersions"/> (the rule of the master's
    /// <see cref="SharedMemoryOptions.SubscriberQueueCapacity"/>): a slow observer ends with the latest value of each
    /// key and is told what it skipped, and the worker's memory stays bounded. Default: 10,000.
    /// </summary>
    public int SubscriberQueueCapacity { get; set; } = 10_000;

    /// <summary>
    /// Gets or sets how many bytes of values may wait in the worker for its observers: past it, changes conflate as
    /// past <see cref="SubscriberQueueCapacity"/>. Default: 64 MiB.
    /// </summary>
    public long SubscriberQueueMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    public void Validate()
    {
        Positive(this.SubscriberQueueCapacity, nameof(this.SubscriberQueueCapacity));
        Positive(this.SubscriberQueueMaxBytes, nameof(this.SubscriberQueueMaxBytes));
    }

    internal SharedMemoryWorkerOptions Clone() => (SharedMemoryWorkerOptions)this.MemberwiseClone();

    private static void Positive(long value, string setting)
    {
        string name = $"{nameof(SharedMemoryWorkerOptions)}.{setting}";
        if (value <= 0)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive; it is {value}.");
        }
    }
}
