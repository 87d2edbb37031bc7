using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The <c>calls</c> parameter of a <c>batch</c> request: an array of <c>[method, arguments…]</c> arrays, each argument
/// at its <see cref="BatchPositions"/>. A worker writes it from its queued calls (<see cref="Outgoing"/>), a large
/// value going to the shared region when <see cref="Region"/> has room; the master reads it as <see cref="Calls"/>,
/// each call through <see cref="BatchArguments"/>.
/// </summary>
[JsonConverter(typeof(Codec))]
internal readonly struct BatchRequest
{
    /// <summary>Initializes a new instance of the <see cref="BatchRequest"/> struct to write calls.</summary>
    /// <param name="outgoing">The calls, in order.</param>
    /// <param name="region">Where large values may go instead of the message, or null.</param>
    public BatchRequest(IReadOnlyList<IBatchCall> outgoing, IValuePlacer? region = null)
    {
        this.Outgoing = outgoing;
        this.Region = region;
    }

    /// <summary>Initializes a new instance of the <see cref="BatchRequest"/> struct with calls as read.</summary>
    /// <param name="calls">The <c>calls</c> value as read: an array, unless the sender broke the protocol.</param>
    public BatchRequest(JsonElement calls) => this.Calls = calls;

    /// <summary>Gets the calls to write, or null for a request that was read.</summary>
    public IReadOnlyList<IBatchCall>? Outgoing { get; }

    /// <summary>Gets where large values go, or null.</summary>
    public IValuePlacer? Region { get; }

    /// <summary>Gets the calls as read; <see cref="JsonValueKind.Undefined"/> for a request to write.</summary>
    public JsonElement Calls { get; }

    /// <summary>Writes one <c>[method, arguments…]</c> call. A value placed in the region is written as <c>null</c>, and its offset and length follow at <see cref="IBatchCall.RegionAt"/>.</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="call">The call.</param>
    /// <param name="region">Where a large value may go, or null.</param>
    public static void WriteCall(Utf8JsonWriter writer, IBatchCall call, IValuePlacer? region)
    {
        writer.WriteStartArray();
        writer.WriteStringValue(call.Method);
        (int Offset, long Length)? placed = null;
        var arguments = call.Arguments;
        foreach (var argument in arguments)
        {
            if (argument is IRawValue value && call.RegionAt > 0 && region?.TryPlace(value.Bytes) is { } offset)
            {
                placed = (offset, value.Length);
                writer.WriteNullValue();
                continue;
            }

            switch (argument)
            {
                case null: writer.WriteNullValue(); break;
                case string text: writer.WriteStringValue(text); break;
                case long number: writer.WriteNumberValue(number); break;
                case double number: writer.WriteNumberValue(number); break;
                case bool flag: writer.WriteBooleanValue(flag); break;
                case IRawValue json: writer.WriteRawValue(json.Bytes, skipInputValidation: true); break;
                default: throw new InvalidOperationException($"A batched argument cannot be a {argument.GetType()}.");
            }
        }

        if (placed is { } spot)
        {
            // The arguments left out before the region's go as null: positions, not names, say which is which.
            for (int position = BatchPositions.Method + 1 + arguments.Length; position < call.RegionAt; position++)
            {
                writer.WriteNullValue();
            }

            writer.WriteNumberValue(spot.Offset);
            writer.WriteNumberValue(spot.Length);
        }

        writer.WriteEndArray();
    }

    /// <summary>The <c>traceparents</c> of outgoing calls, one per call; null when none has a trace context, so that the parameter is left out.</summary>
    /// <param name="calls">The calls, in order.</param>
    /// <returns>Each call's <see cref="IBatchCall.TraceParent"/> at its position, or null.</returns>
    public static string?[]? TraceParents(IReadOnlyList<IBatchCall> calls)
    {
        string?[]? parents = null;
        for (int i = 0; i < calls.Count; i++)
        {
            if (calls[i].TraceParent is { } parent)
            {
                (parents ??= new string?[calls.Count])[i] = parent;
            }
        }

        return parents;
    }

    /// <summary>The entry for call <paramref name="index"/> of a received <c>traceparents</c>, as it came (unchecked); null when absent or not a string.</summary>
    /// <param name="traceParents">The <c>traceparents</c> parameter, if the batch had one.</param>
    /// <param name="index">The call's position in the batch.</param>
    /// <returns>The text, or null.</returns>
    public static string? TraceParentAt(JsonElement? traceParents, int index) =>
        traceParents is { ValueKind: JsonValueKind.Array } array && index < array.GetArrayLength() ? TraceParent.TextOf(array[index]) : null;

    /// <summary>One call to write: its method, its positional arguments and its caller's trace context.</summary>
    internal interface IBatchCall
    {
        /// <summary>Gets the method's name.</summary>
        string Method { get; }

        /// <summary>Gets the W3C <c>traceparent</c> of the caller's activity, carried in <c>traceparents</c>; null for none.</summary>
        string? TraceParent { get; }

        /// <summary>Gets the arguments from <see cref="BatchPositions"/> 1 on: strings, numbers, booleans, nulls and <see cref="IRawValue"/> values.</summary>
        object?[] Arguments { get; }

        /// <summary>Gets the <see cref="BatchPositions"/> of the region's offset, for a call whose value may travel in the shared region; 0 for others.</summary>
        int RegionAt { get; }
    }

    /// <summary>A value already serialized, written as it is.</summary>
    internal interface IRawValue
    {
        /// <summary>Gets the value's JSON length in bytes.</summary>
        long Length { get; }

        /// <summary>Gets the value's UTF-8 JSON.</summary>
        ReadOnlySequence<byte> Bytes { get; }
    }

    /// <summary>Places a large value outside the message (the shared region).</summary>
    internal interface IValuePlacer
    {
        /// <summary>Copies the value out and returns its offset; null when it travels in the message.</summary>
        /// <param name="value">The value's JSON.</param>
        /// <returns>The offset, or null.</returns>
        int? TryPlace(ReadOnlySequence<byte> value);
    }

    internal sealed class Codec : JsonConverter<BatchRequest>
    {
        public override BatchRequest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            new(JsonElement.ParseValue(ref reader));

        public override void Write(Utf8JsonWriter writer, BatchRequest request, JsonSerializerOptions options)
        {
            if (request.Outgoing is null)
            {
                request.Calls.WriteTo(writer);
                return;
            }

            writer.WriteStartArray();
            foreach (var call in request.Outgoing)
            {
                WriteCall(writer, call, request.Region);
            }

            writer.WriteEndArray();
        }
    }
}
