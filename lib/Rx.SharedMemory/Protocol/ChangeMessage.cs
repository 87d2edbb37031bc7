using System.Text.Json;

namespace Rx.SharedMemory.Protocol;

/// <summary>One change of a <c>changes</c> notification as a worker reads it (<see cref="ChangeBatch"/>).</summary>
/// <param name="Subscription">The subscription it is for.</param>
/// <param name="Key">The key.</param>
/// <param name="Kind">What happened.</param>
/// <param name="Version">The version of the change.</param>
/// <param name="Timestamp">Unix time in milliseconds.</param>
/// <param name="Skipped">How many earlier changes of the key were conflated into this one.</param>
/// <param name="Value">The value, or null when the property is absent (a JSON null is a value).</param>
/// <param name="Count">For a <c>prefixReset</c>, how many <c>reset</c> changes follow as its state; -1 when absent.</param>
internal sealed record ChangeMessage(long Subscription, string Key, KeyChangeKind Kind, long Version, long Timestamp, long Skipped, JsonElement? Value, int Count = -1)
{
    /// <summary>Gets the W3C <c>traceparent</c> of the write that made the change; null for none.</summary>
    public string? TraceParent { get; init; }

    public KeyChange ToKeyChange() => new(
        this.Key,
        this.Kind,
        this.Version,
        DateTimeOffset.FromUnixTimeMilliseconds(this.Timestamp),
        this.Value,
        this.Skipped)
    { StateCount = this.Count, TraceParent = this.TraceParent };
}
