using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Protocol;

/// <summary>The result of <c>get</c>: a value and its version. <typeparamref name="T"/> is <see cref="RawJson"/> in the master, the caller's type in a worker.</summary>
/// <typeparam name="T">The value's type.</typeparam>
internal sealed class EntryMessage<T>
{
    [JsonPropertyName("value")]
    public T Value { get; set; } = default!;

    [JsonPropertyName("version")]
    public long Version { get; set; }
}
