using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Protocol;

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

    /// <summary>Gets or sets what the master can do beyond version 1's single requests, such as <see cref="RpcMethods.BatchFeature"/>; absent from older masters.</summary>
    [JsonPropertyName("features")]
    public string[]? Features { get; set; }
}
