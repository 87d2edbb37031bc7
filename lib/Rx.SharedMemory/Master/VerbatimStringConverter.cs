using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Master;

/// <summary>
/// Reads the master's string arguments as sent, even when their escapes make a lone surrogate (<c>"\ud800"</c>, as
/// JavaScript's <c>JSON.stringify</c> writes one): System.Text.Json refuses such a string, and StreamJsonRpc would then
/// answer only "invalid params". Kept verbatim, the key reaches the store's checks, which refuse it with
/// <see cref="ArgumentException"/> naming the argument (<see cref="Protocol.RpcErrorCodes.InvalidArgument"/>).
/// </summary>
internal sealed class VerbatimStringConverter : JsonConverter<string>
{
    public override bool HandleNull => false;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"Expected a string, got {reader.TokenType}.");
        }

        try
        {
            return reader.GetString();
        }
        catch (InvalidOperationException)
        {
            return Unescape(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan);
        }
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

    /// <summary>Unescapes a JSON string's bytes (valid UTF-8: the frame guard saw to that) without pairing surrogates.</summary>
    private static string Unescape(ReadOnlySpan<byte> escaped)
    {
        var text = new StringBuilder(escaped.Length);
        while (!escaped.IsEmpty)
        {
            int backslash = escaped.IndexOf((byte)'\\');
            var run = backslash < 0 ? escaped : escaped[..backslash];
            text.Append(Encoding.UTF8.GetString(run));
            if (backslash < 0)
            {
                break;
            }

            byte kind = escaped[backslash + 1];
            int length = 2;
            switch (kind)
            {
                case (byte)'u':
                    text.Append((char)int.Parse(Encoding.ASCII.GetString(escaped.Slice(backslash + 2, 4)), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    length = 6;
                    break;
                case (byte)'n': text.Append('\n'); break;
                case (byte)'r': text.Append('\r'); break;
                case (byte)'t': text.Append('\t'); break;
                case (byte)'b': text.Append('\b'); break;
                case (byte)'f': text.Append('\f'); break;
                default: text.Append((char)kind); break; // \" \\ \/
            }

            escaped = escaped[(backslash + length)..];
        }

        return text.ToString();
    }
}
