using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Rpc;

/// <summary>One change in a <c>changes</c> notification, as a worker reads it.</summary>
internal sealed class ChangeMessage
{
    [JsonPropertyName("subscription")]
    public long Subscription { get; set; }

    [JsonPropertyName("key")]
    public string Key { get; set; } = string.Empty;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = string.Empty;

    [JsonPropertyName("version")]
    public long Version { get; set; }

    /// <summary>Unix time in milliseconds.</summary>
    [JsonPropertyName("timestamp")]
    public long Timestamp { get; set; }

    [JsonPropertyName("skipped")]
    public long Skipped { get; set; }

    /// <summary>The value; <see cref="JsonValueKind.Undefined"/> when the property is absent (a JSON null is a value).</summary>
    [JsonPropertyName("value")]
    public JsonElement Value { get; set; }

    public KeyChange ToKeyChange() => new(
        this.Key,
        ChangeKindNames.FromWire(this.Kind),
        this.Version,
        DateTimeOffset.FromUnixTimeMilliseconds(this.Timestamp),
        this.Value.ValueKind == JsonValueKind.Undefined ? null : this.Value,
        this.Skipped);
}
