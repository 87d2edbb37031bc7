using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Protocol;

/// <summary>A JSON value kept as its UTF-8 text, written to a message as is, without a parse and a re-serialization.</summary>
[JsonConverter(typeof(RawJsonConverter))]
internal readonly record struct RawJson(byte[] Utf8)
{
    public static byte[] CopyOf(JsonElement element) => JsonMarshal.GetRawUtf8Value(element).ToArray();

    internal sealed class RawJsonConverter : JsonConverter<RawJson>
    {
        public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            using var document = JsonDocument.ParseValue(ref reader);
            return new RawJson(CopyOf(document.RootElement));
        }

        public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options) =>
            writer.WriteRawValue(value.Utf8, skipInputValidation: true);
    }
}
