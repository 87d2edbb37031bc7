using System.Text.Json;
using System.Text.Json.Serialization;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The <c>changes</c> parameter of a <c>changes</c> notification: an array of
/// <c>{"subscription", "key", "kind", "version", "timestamp", "skipped", "count"?, "traceparent"?, "value"?}</c> objects
/// (<c>count</c> on a <c>prefixReset</c> only, <c>traceparent</c> on a change made in a trace). The master writes it
/// straight from its outbox's items (<see cref="Outgoing"/>), so that a notification costs no per-change message
/// objects and stored values are copied into the frame as they are; a worker reads it as <see cref="Received"/>.
/// </summary>
[JsonConverter(typeof(Codec))]
internal readonly struct ChangeBatch
{
    /// <summary>The property names, as the protocol spells them.</summary>
    private static readonly JsonEncodedText SubscriptionName = JsonEncodedText.Encode("subscription");
    private static readonly JsonEncodedText KeyName = JsonEncodedText.Encode("key");
    private static readonly JsonEncodedText KindName = JsonEncodedText.Encode("kind");
    private static readonly JsonEncodedText VersionName = JsonEncodedText.Encode("version");
    private static readonly JsonEncodedText TimestampName = JsonEncodedText.Encode("timestamp");
    private static readonly JsonEncodedText SkippedName = JsonEncodedText.Encode("skipped");
    private static readonly JsonEncodedText ValueName = JsonEncodedText.Encode("value");
    private static readonly JsonEncodedText CountName = JsonEncodedText.Encode("count");
    private static readonly JsonEncodedText TraceParentName = JsonEncodedText.Encode("traceparent");

    /// <summary>Initializes a new instance of the <see cref="ChangeBatch"/> struct to write the outbox's items.</summary>
    /// <param name="outgoing">The changes to send, each with its subscription and skip count.</param>
    public ChangeBatch(IReadOnlyList<OutboxItem> outgoing) => this.Outgoing = outgoing;

    /// <summary>Initializes a new instance of the <see cref="ChangeBatch"/> struct with changes as read.</summary>
    /// <param name="received">The changes read.</param>
    public ChangeBatch(IReadOnlyList<ChangeMessage> received) => this.Received = received;

    /// <summary>Gets the master's changes to write, or null for a batch that was read.</summary>
    public IReadOnlyList<OutboxItem>? Outgoing { get; }

    /// <summary>Gets the changes read, or null for a batch to write.</summary>
    public IReadOnlyList<ChangeMessage>? Received { get; }

    internal sealed class Codec : JsonConverter<ChangeBatch>
    {
        public override ChangeBatch Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            Expect(ref reader, JsonTokenType.StartArray);
            var changes = new List<ChangeMessage>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                changes.Add(ReadChange(ref reader));
            }

            return new ChangeBatch(changes);
        }

        public override void Write(Utf8JsonWriter writer, ChangeBatch batch, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            if (batch.Outgoing is { } outgoing)
            {
                foreach (var item in outgoing)
                {
                    var change = item.Change;
                    WriteChange(writer, item.SubscriptionId, change.Key, change.Kind, change.Version, change.Timestamp.ToUnixTimeMilliseconds(), item.Skipped, change.StateCount, change.TraceParent);
                    if (change.Value is not null)
                    {
                        writer.WritePropertyName(ValueName);
                        writer.WriteRawValue(change.Value, skipInputValidation: true);
                    }

                    writer.WriteEndObject();
                }
            }
            else
            {
                foreach (var change in batch.Received ?? [])
                {
                    WriteChange(writer, change.Subscription, change.Key, change.Kind, change.Version, change.Timestamp, change.Skipped, change.Count, change.TraceParent);
                    if (change.Value is { } value)
                    {
                        writer.WritePropertyName(ValueName);
                        value.WriteTo(writer);
                    }

                    writer.WriteEndObject();
                }
            }

            writer.WriteEndArray();
        }

        /// <summary>Writes a change's object up to its value, which the caller writes (or not) before ending it.</summary>
        private static void WriteChange(Utf8JsonWriter writer, long subscription, string key, KeyChangeKind kind, long version, long timestamp, long skipped, int count, string? traceParent)
        {
            writer.WriteStartObject();
            writer.WriteNumber(SubscriptionName, subscription);
            writer.WriteString(KeyName, key);
            writer.WriteString(KindName, ChangeKindNames.ToWire(kind));
            writer.WriteNumber(VersionName, version);
            writer.WriteNumber(TimestampName, timestamp);
            writer.WriteNumber(SkippedName, skipped);
            if (count >= 0)
            {
                writer.WriteNumber(CountName, count);
            }

            if (traceParent is not null)
            {
                writer.WriteString(TraceParentName, traceParent);
            }
        }

        /// <summary>Reads one change object; properties it does not know are skipped, as a later master may add some.</summary>
        private static ChangeMessage ReadChange(ref Utf8JsonReader reader)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new JsonException($"A change of a changes notification is an object; got {reader.TokenType}.");
            }

            long subscription = 0, version = 0, timestamp = 0, skipped = 0;
            int count = -1;
            string key = string.Empty;
            string kind = string.Empty;
            JsonElement? value = null;
            string? traceParent = null;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                Expect(ref reader, JsonTokenType.PropertyName);
                if (reader.ValueTextEquals("subscription"u8))
                {
                    subscription = ReadInt64(ref reader);
                }
                else if (reader.ValueTextEquals("key"u8))
                {
                    key = ReadString(ref reader);
                }
                else if (reader.ValueTextEquals("kind"u8))
                {
                    kind = ReadString(ref reader);
                }
                else if (reader.ValueTextEquals("version"u8))
                {
                    version = ReadInt64(ref reader);
                }
                else if (reader.ValueTextEquals("timestamp"u8))
                {
                    timestamp = ReadInt64(ref reader);
                }
                else if (reader.ValueTextEquals("skipped"u8))
                {
                    skipped = ReadInt64(ref reader);
                }
                else if (reader.ValueTextEquals("count"u8))
                {
                    count = checked((int)ReadInt64(ref reader));
                }
                else if (reader.ValueTextEquals("traceparent"u8))
                {
                    // Only a hint: a value that is not a string is ignored, as an unknown property would be.
                    reader.Read();
                    traceParent = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("value"u8))
                {
                    reader.Read();
                    value = JsonElement.ParseValue(ref reader);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            return new ChangeMessage(subscription, key, ChangeKindNames.FromWire(kind), version, timestamp, skipped, value, count) { TraceParent = traceParent };
        }

        private static long ReadInt64(ref Utf8JsonReader reader)
        {
            reader.Read();
            return reader.GetInt64();
        }

        private static string ReadString(ref Utf8JsonReader reader)
        {
            reader.Read();
            return reader.GetString() ?? throw new JsonException("A change's key and kind are strings.");
        }

        private static void Expect(ref Utf8JsonReader reader, JsonTokenType token)
        {
            if (reader.TokenType != token)
            {
                throw new JsonException($"Expected {token} in a changes notification; got {reader.TokenType}.");
            }
        }
    }
}
