using System.Text.Json;
using System.Text.Json.Serialization;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Rpc;

/// <summary>
/// The changes of one <c>changes</c> notification, written straight from the outbox's items so that a batch costs
/// no per-change message objects, and stored values are copied into the frame as they are.
/// </summary>
[JsonConverter(typeof(ChangeBatchConverter))]
internal readonly record struct ChangeBatch(IReadOnlyList<OutboxItem> Items)
{
    private sealed class ChangeBatchConverter : JsonConverter<ChangeBatch>
    {
        public override ChangeBatch Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("A worker reads changes as ChangeMessage.");

        public override void Write(Utf8JsonWriter writer, ChangeBatch batch, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            foreach (var item in batch.Items)
            {
                var change = item.Change;
                writer.WriteStartObject();
                writer.WriteNumber("subscription", item.SubscriptionId);
                writer.WriteString("key", change.Key);
                writer.WriteString("kind", ChangeKindNames.ToWire(change.Kind));
                writer.WriteNumber("version", change.Version);
                writer.WriteNumber("timestamp", change.Timestamp.ToUnixTimeMilliseconds());
                writer.WriteNumber("skipped", item.Skipped);
                if (change.Value is not null)
                {
                    writer.WritePropertyName("value");
                    writer.WriteRawValue(change.Value, skipInputValidation: true);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }
    }
}
