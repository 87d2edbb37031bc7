using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Rpc;

/// <summary>The result of <c>hello</c>: what the master speaks and allows.</summary>
internal sealed class HelloResult
{
    [JsonPropertyName("protocolVersion")]
    public int ProtocolVersion { get; set; }

    [JsonPropertyName("workerId")]
    public int WorkerId { get; set; }

    [JsonPropertyName("maxKeyLength")]
    public int MaxKeyLength { get; set; }

    [JsonPropertyName("maxValueBytes")]
    public int MaxValueBytes { get; set; }
}
