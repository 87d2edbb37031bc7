using System.Text.Json;
using Rx.SharedMemory.Serialization;

namespace Rx.SharedMemory;

/// <summary>Every setting of a <see cref="SharedMemoryMaster"/>, checked when the master is created.</summary>
public sealed class SharedMemoryOptions
{
    /// <summary>
    /// The deepest nesting of arrays and objects a value may have: 32 (a number or string is depth 0, <c>[1]</c> is 1).
    /// Checked in a worker before a value travels, and by the master on every write, so that every value the store
    /// holds fits inside every message that carries it (a <c>batch</c> answer or a <c>changes</c> notification adds four
    /// levels) with room below the 64 levels System.Text.Json and StreamJsonRpc read. A deeper value is refused with
    /// <see cref="SharedMemoryLimitExceededException"/> naming this limit.
    /// </summary>
    public const int MaxValueDepth = 32;

    /// <summary>Gets or sets the longest key allowed, in UTF-16 characters. Default: 1,024.</summary>
    public int MaxKeyLength { get; set; } = 1024;

    /// <summary>Gets or sets the largest value allowed, in bytes of its compact JSON (a byte array counts as its base64 text). Default: 16 MiB.</summary>
    public int MaxValueBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Gets or sets a value indicating whether values of 32 KiB and more travel between the master and a worker through
    /// memory both processes map, instead of through the pipe (Linux; elsewhere they always take the pipe). Each
    /// worker then maps two areas of <see cref="MaxValueBytes"/> in an anonymous memory file (<c>memfd_create</c>,
    /// sealed against resizing, with no name to open or to leave behind), which take memory only as far as large values
    /// have used them, and are freed when the worker's connection ends. Default: true.
    /// </summary>
    public bool LargeValuesThroughSharedMemory { get; set; } = true;

    /// <summary>Gets or sets the most keys the store holds; <see langword="null"/> (the default) for no limit by count.</summary>
    public int? MaxEntries { get; set; }

    /// <summary>
    /// Gets or sets the most bytes the store holds, counting each value's JSON and each key's UTF-8 bytes (not the
    /// bookkeeping around them); <see langword="null"/> for no limit. Default: 1 GiB.
    /// </summary>
    public long? MaxBytes { get; set; } = 1L << 30;

    /// <summary>Gets or sets what happens when a write would exceed <see cref="MaxEntries"/> or <see cref="MaxBytes"/>. Default: <see cref="EvictionPolicy.LeastRecentlyUsed"/>.</summary>
    public EvictionPolicy EvictionPolicy { get; set; } = EvictionPolicy.LeastRecentlyUsed;

    /// <summary>
    /// Gets or sets how many recent changes the master keeps so that a subscriber can resume from a version without a
    /// gap. A resume from before the oldest kept change gets a <see cref="KeyChangeKind.Reset"/> instead. Default: 65,536.
    /// </summary>
    public int ChangeLogCapacity { get; set; } = 65_536;

    /// <summary>
    /// Gets or sets the most bytes of values the change log of <see cref="ChangeLogCapacity"/> holds: past it, the
    /// oldest changes are dropped first (a resume from before them gets a <see cref="KeyChangeKind.Reset"/>). Without
    /// it, a store that rewrites large values would keep the last 65,536 of them. Default: 64 MiB.
    /// </summary>
    public long ChangeLogMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Gets or sets how many changes may wait to be sent to one subscriber connection (a worker, or one in-process
    /// observer). Past it, pending changes to the same key are conflated to the latest, which then reports the number
    /// it replaced in <see cref="KeyChange.SkippedVersions"/>. Default: 10,000.
    /// </summary>
    public int SubscriberQueueCapacity { get; set; } = 10_000;

    /// <summary>
    /// Gets or sets how many bytes of values may wait to be sent to one subscriber connection: past it, pending
    /// changes conflate as past <see cref="SubscriberQueueCapacity"/>, so that a slow subscriber to large values holds
    /// at most this much plus the latest value of each key it watches. Default: 64 MiB.
    /// </summary>
    public long SubscriberQueueMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Gets or sets how many bytes of answers and change notifications the master holds for one worker connection
    /// while the worker does not read them. Past it, the master stops reading that worker's requests until the worker
    /// has read enough: its own writes then block (back-pressure). No answer is dropped, and other workers are not
    /// slowed. The master holds at most this plus one answer (a value, or a batch's answer) and one change
    /// notification (256 KiB of values plus one value), plus the answers of the worker's waiting locks, for each
    /// connection. Default: 32 MiB.
    /// </summary>
    public long MaxConnectionBufferBytes { get; set; } = 32L * 1024 * 1024;

    /// <summary>
    /// Gets or sets how many subscriptions one worker connection may hold at once. Each one costs the master memory,
    /// and each change of its key costs one queued change; past the limit a subscribe fails
    /// with <see cref="SharedMemoryLimitExceededException"/>. Default: 10,000.
    /// </summary>
    public int MaxSubscriptionsPerConnection { get; set; } = 10_000;

    /// <summary>
    /// Gets or sets how many lock requests of one worker connection may be under way at once, each from when the master
    /// reads it until it is answered, whether it waits for a lock held by another or not (with a store kept in Redis, a
    /// request for a free lock is under way until Redis answers). A waiting request is held by the master until granted
    /// or timed out; past the limit a lock request fails with <see cref="SharedMemoryLimitExceededException"/>.
    /// Default: 1,000.
    /// </summary>
    public int MaxWaitingLocksPerConnection { get; set; } = 1_000;

    /// <summary>
    /// Gets or sets how many locks one worker connection may hold at once, counting its lock requests under way (each
    /// may be granted). A held lock is kept by the master until released or its worker goes; a lock request that
    /// would pass the limit fails at once with <see cref="SharedMemoryLimitExceededException"/>. Default: 10,000.
    /// </summary>
    public int MaxHeldLocksPerConnection { get; set; } = 10_000;

    /// <summary>
    /// Gets or sets how long a spawned worker may take to connect before <see cref="SharedMemoryMaster.SpawnWorkerAsync"/>
    /// kills it and fails with <see cref="SharedMemoryWorkerStartException"/>. Default: 30 s.
    /// </summary>
    public TimeSpan WorkerStartTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how long disposing the master waits for its workers to exit before it kills them. Default: 5 s.</summary>
    public TimeSpan WorkerShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets the clock used for change timestamps, times to live and (by the embedded engine) lock timeouts.
    /// Default: <see cref="TimeProvider.System"/>. The Redis engine keeps Redis's clock instead.
    /// </summary>
    /// <remarks>
    /// With <see cref="TimeProvider.System"/>, keys expire on a thread of the master's own that times its waits itself,
    /// on time when the thread pool is busy. With another clock, that thread waits for the clock's timers
    /// (<see cref="TimeProvider.CreateTimer"/>), so a fake clock drives expiry in tests: a key expires when the clock
    /// passes its deadline.
    /// </remarks>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Gets or sets the factory the master takes its <see cref="System.Diagnostics.Metrics.Meter"/> from (named
    /// <see cref="SharedMemoryMetrics.MeterName"/>), such as the host's; <see langword="null"/> (the default) for a meter
    /// of the master's own, disposed with it. The hosting package sets it to the host's factory. Masters given one
    /// factory share its meter, which keeps their instruments until the factory is disposed; their observed instruments
    /// are told apart by the tag <c>rx.sharedmemory.master.id</c>.
    /// </summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; set; }

    /// <summary>
    /// Gets or sets how the master's <see cref="SharedMemoryMaster.Store"/> (and a store on another engine made with these options) write and read values with the typed methods that take no
    /// <see cref="System.Text.Json.Serialization.Metadata.JsonTypeInfo{T}"/>: naming policy, converters, a
    /// source-generated context as <see cref="JsonSerializerOptions.TypeInfoResolver"/>. Default:
    /// <see langword="null"/>, System.Text.Json's defaults. Every process that shares keys should use the same
    /// options, or read each other's values with matching ones.
    /// </summary>
    /// <remarks>
    /// The options are made read-only (<see cref="JsonSerializerOptions.MakeReadOnly(bool)"/>) when the master (or store) is made: changing
    /// them afterwards throws <see cref="InvalidOperationException"/>, rather than changing half of what the store has
    /// already cached. Options without a <see cref="JsonSerializerOptions.TypeInfoResolver"/> get System.Text.Json's
    /// reflection-based one then, as <see cref="JsonSerializer"/> does. They apply to values only: the protocol's own
    /// messages keep their format.
    /// </remarks>
    public JsonSerializerOptions? JsonSerializerOptions { get; set; }

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it.</exception>
    /// <exception cref="ArgumentNullException">A required setting is null; the message names it.</exception>
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
            Positive(this.MaxKeyLength, nameof(this.MaxKeyLength)),
            Positive(this.MaxValueBytes, nameof(this.MaxValueBytes)),
            Positive(this.ChangeLogCapacity, nameof(this.ChangeLogCapacity)),
            Positive(this.ChangeLogMaxBytes, nameof(this.ChangeLogMaxBytes)),
            this.MaxEntries is { } maxEntries ? Positive(maxEntries, nameof(this.MaxEntries)) : null,
            this.MaxBytes is { } maxBytes ? Positive(maxBytes, nameof(this.MaxBytes)) : null,
            Enum.IsDefined(this.EvictionPolicy) ? null : new ArgumentOutOfRangeException(Name(nameof(this.EvictionPolicy)), this.EvictionPolicy, $"{Name(nameof(this.EvictionPolicy))} is not a known policy."),
            Positive(this.SubscriberQueueCapacity, nameof(this.SubscriberQueueCapacity)),
            Positive(this.SubscriberQueueMaxBytes, nameof(this.SubscriberQueueMaxBytes)),
            Positive(this.MaxConnectionBufferBytes, nameof(this.MaxConnectionBufferBytes)),
            Positive(this.MaxSubscriptionsPerConnection, nameof(this.MaxSubscriptionsPerConnection)),
            Positive(this.MaxWaitingLocksPerConnection, nameof(this.MaxWaitingLocksPerConnection)),
            Positive(this.MaxHeldLocksPerConnection, nameof(this.MaxHeldLocksPerConnection)),
            Positive(this.WorkerStartTimeout, nameof(this.WorkerStartTimeout)),
            Positive(this.WorkerShutdownTimeout, nameof(this.WorkerShutdownTimeout)),
            this.TimeProvider is null ? new ArgumentNullException(Name(nameof(this.TimeProvider)), $"{Name(nameof(this.TimeProvider))} must be set.") : null,
            ValueJson.Unusable(this.JsonSerializerOptions, Name(nameof(this.JsonSerializerOptions))),
        ];
        return failures.OfType<ArgumentException>();
    }

    /// <summary>
    /// A copy for a store to keep, checked (<see cref="Validate"/>: what is checked is what is kept), then with
    /// <see cref="JsonSerializerOptions"/> made read-only: settings that are refused leave those options writable.
    /// </summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    internal SharedMemoryOptions CheckedCopy()
    {
        var copy = (SharedMemoryOptions)this.MemberwiseClone();
        copy.Validate();
        copy.JsonSerializerOptions = ValueJson.Freeze(this.JsonSerializerOptions, $"{nameof(SharedMemoryOptions)}.{nameof(this.JsonSerializerOptions)}");
        return copy;
    }

    private static string Name(string setting) => $"{nameof(SharedMemoryOptions)}.{setting}";

    private static ArgumentOutOfRangeException? Positive(long value, string setting) =>
        value <= 0 ? new ArgumentOutOfRangeException(Name(setting), value, $"{Name(setting)} must be positive; it is {value}.") : null;

    private static ArgumentOutOfRangeException? Positive(TimeSpan value, string setting) =>
        value <= TimeSpan.Zero ? new ArgumentOutOfRangeException(Name(setting), value, $"{Name(setting)} must be positive; it is {value}.") : null;
}
