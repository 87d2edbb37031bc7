using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Protocol;

/// <summary>The <c>data</c> of a <see cref="RpcErrorCodes.LimitExceeded"/> error.</summary>
internal sealed record LimitErrorData(
    [property: JsonPropertyName("key")] string? Key,
    [property: JsonPropertyName("limitName")] string? LimitName,
    [property: JsonPropertyName("limit")] long Limit,
    [property: JsonPropertyName("actual")] long Actual);
