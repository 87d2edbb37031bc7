using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Nerdbank.Streams;
using Rx.SharedMemory.Protocol;

namespace Rx.SharedMemory.Worker;

/// <summary>
/// A value serialized into pooled buffers, held until its message has been written: a large value then costs the
/// worker no fresh allocation (and so no garbage collection and no page faults) on its way out.
/// </summary>
[JsonConverter(typeof(PooledJsonConverter))]
internal sealed class PooledJson : IDisposable, BatchRequest.IRawValue
{
    private readonly Sequence<byte> bytes = new(ArrayPool<byte>.Shared);
    private int disposed;

    private PooledJson()
    {
    }

    public long Length => this.bytes.Length;

    public ReadOnlySequence<byte> Bytes => this.bytes.AsReadOnlySequence;

    public static PooledJson Serialize<T>(T value, JsonTypeInfo<T> jsonTypeInfo)
    {
        var json = new PooledJson();
        using var writer = new Utf8JsonWriter(json.bytes);
        JsonSerializer.Serialize(writer, value, jsonTypeInfo);
        return json;
    }

    /// <summary>Gives the buffers of every pooled value among <paramref name="arguments"/> back to the pool.</summary>
    public static void ReleaseAll(object?[] arguments)
    {
        foreach (var argument in arguments)
        {
            (argument as PooledJson)?.Dispose();
        }
    }

    /// <summary>Gives the buffers back to the pool; once.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref this.disposed, 1) == 0)
        {
            this.bytes.Dispose();
        }
    }

    internal sealed class PooledJsonConverter : JsonConverter<PooledJson>
    {
        public override PooledJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("A pooled value is only written.");

        public override void Write(Utf8JsonWriter writer, PooledJson value, JsonSerializerOptions options) =>
            writer.WriteRawValue(value.Bytes, skipInputValidation: true);
    }
}
