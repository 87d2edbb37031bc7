using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Protocol;

/// <summary>The result of <c>compareAndSet</c>.</summary>
internal sealed class CompareAndSetMessage
{
    [JsonPropertyName("succeeded")]
    public bool Succeeded { get; set; }

    [JsonPropertyName("version")]
    public long Version { get; set; }
}
