namespace Rx.SharedMemory.Store;

/// <summary>
/// One committed change, immutable and shared by the change log and every subscriber queue it reaches.
/// </summary>
/// <param name="Key">The key.</param>
/// <param name="Kind">What happened.</param>
/// <param name="Value">The value as compact UTF-8 JSON, or null when the change carries none.</param>
/// <param name="Version">The version of the change (for a reset, of the state it carries).</param>
/// <param name="Timestamp">When it was committed.</param>
internal sealed record ChangeRecord(string Key, KeyChangeKind Kind, byte[]? Value, long Version, DateTimeOffset Timestamp)
{
    /// <summary>
    /// Gets, for a <see cref="KeyChangeKind.PrefixReset"/>, how many <see cref="KeyChangeKind.Reset"/> changes follow it
    /// as the prefix's state (so that a subscriber knows when the state is whole); -1 otherwise.
    /// </summary>
    public int StateCount { get; init; } = -1;

    /// <summary>
    /// Gets the W3C <c>traceparent</c> of the operation that committed the change, carried as it is to the workers
    /// that receive it; null for none (a change the store made itself: an expiry, an eviction, a release).
    /// </summary>
    public string? TraceParent { get; init; }

    public KeyChange ToKeyChange(long skippedVersions) =>
        new(this.Key, this.Kind, this.Version, this.Timestamp, this.Value is null ? null : (ReadOnlyMemory<byte>?)this.Value, skippedVersions) { StateCount = this.StateCount };
}
