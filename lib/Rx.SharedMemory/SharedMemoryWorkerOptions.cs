using System.Text.Json;
using Rx.SharedMemory.Serialization;

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

    /// <summary>
    /// Gets or sets how the worker write and read values with the typed methods that take no
    /// <see cref="System.Text.Json.Serialization.Metadata.JsonTypeInfo{T}"/>: naming policy, converters, a
    /// source-generated context as <see cref="JsonSerializerOptions.TypeInfoResolver"/>. Default:
    /// <see langword="null"/>, System.Text.Json's defaults. Every process that shares keys should use the same
    /// options, or read each other's values with matching ones.
    /// </summary>
    /// <remarks>
    /// The options are made read-only (<see cref="JsonSerializerOptions.MakeReadOnly(bool)"/>) when the worker connects: changing
    /// them afterwards throws <see cref="InvalidOperationException"/>, rather than changing half of what the store has
    /// already cached. Options without a <see cref="JsonSerializerOptions.TypeInfoResolver"/> get System.Text.Json's
    /// reflection-based one then, as <see cref="JsonSerializer"/> does. They apply to values only: the protocol's own
    /// messages keep their format.
    /// </remarks>
    public JsonSerializerOptions? JsonSerializerOptions { get; set; }

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    /// <exception cref="ArgumentException"><see cref="JsonSerializerOptions"/> has no <see cref="JsonSerializerOptions.TypeInfoResolver"/> in an application where reflection-based serialization is disabled (Native AOT).</exception>
    public void Validate()
    {
        if (this.Failures().FirstOrDefault() is { } failure)
        {
            throw failure;
        }
    }

    /// <summary>Every wrong setting, in the order <see cref="Validate"/> checks them: the exception it would throw for each.</summary>
    internal IEnumerable<ArgumentException> Failures()
    {
        ArgumentException?[] failures =
        [
            Positive(this.SubscriberQueueCapacity, nameof(this.SubscriberQueueCapacity)),
            Positive(this.SubscriberQueueMaxBytes, nameof(this.SubscriberQueueMaxBytes)),
            ValueJson.Unusable(this.JsonSerializerOptions, $"{nameof(SharedMemoryWorkerOptions)}.{nameof(this.JsonSerializerOptions)}"),
        ];
        return failures.OfType<ArgumentException>();
    }

    /// <summary>
    /// A copy for a store to keep, checked (<see cref="Validate"/>: what is checked is what is kept), then with
    /// <see cref="JsonSerializerOptions"/> made read-only: settings that are refused leave those options writable.
    /// </summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    internal SharedMemoryWorkerOptions CheckedCopy()
    {
        var copy = (SharedMemoryWorkerOptions)this.MemberwiseClone();
        copy.Validate();
        copy.JsonSerializerOptions = ValueJson.Freeze(this.JsonSerializerOptions, $"{nameof(SharedMemoryWorkerOptions)}.{nameof(this.JsonSerializerOptions)}");
        return copy;
    }

    private static ArgumentOutOfRangeException? Positive(long value, string setting)
    {
        string name = $"{nameof(SharedMemoryWorkerOptions)}.{setting}";
        return value <= 0 ? new ArgumentOutOfRangeException(name, value, $"{name} must be positive; it is {value}.") : null;
    }
}
