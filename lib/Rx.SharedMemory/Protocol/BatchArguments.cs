using System.Text.Json;

namespace Rx.SharedMemory.Protocol;

/// <summary>Reads the positional arguments of one <c>[method, arguments…]</c> call of a batch; a malformed one is an <see cref="ArgumentException"/>.</summary>
internal readonly struct BatchArguments
{
    private readonly JsonElement call;
    private readonly int count;

    public BatchArguments(JsonElement call)
    {
        if (call.ValueKind != JsonValueKind.Array || call.GetArrayLength() == 0 || call[0].ValueKind != JsonValueKind.String)
        {
            throw new ArgumentException($"A call of a batch is an array [method, arguments...]; got {Shorten(call)}.");
        }

        this.call = call;
        this.count = call.GetArrayLength();
        try
        {
            this.Method = call[0].GetString()!;
        }
        catch (InvalidOperationException ex)
        {
            throw new ArgumentException($"The method of a batch's call is not valid UTF-16 text (a lone surrogate): {ex.Message}", nameof(call), ex);
        }
    }

    public string Method { get; }

    /// <summary>Refuses a call with more than <paramref name="length"/> elements, its method included.</summary>
    public void ThrowIfLongerThan(int length)
    {
        if (this.count > length)
        {
            throw new ArgumentException($"The batched '{this.Method}' call has {this.count - 1} arguments; it takes at most {length - 1}.");
        }
    }

    public string String(int index, string name) =>
        this.Required(index, name) is { ValueKind: JsonValueKind.String } element ? this.Text(element, name) : throw this.Invalid(name, "a string");

    public long Int64(int index, string name) =>
        this.Required(index, name) is { ValueKind: JsonValueKind.Number } element && element.TryGetInt64(out long value) ? value : throw this.Invalid(name, "an integer");

    public JsonElement Value(int index, string name) => this.Required(index, name);

    public long? OptionalInt64(int index, string name) =>
        this.Optional(index) is not { } element ? null
        : element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out long value) ? value : throw this.Invalid(name, "an integer");

    public double? OptionalDouble(int index, string name) =>
        this.Optional(index) is not { } element ? null
        : element.ValueKind == JsonValueKind.Number ? element.GetDouble() : throw this.Invalid(name, "a number");

    public bool OptionalBoolean(int index, string name) =>
        this.Optional(index) is { } element
        && (element.ValueKind is JsonValueKind.True or JsonValueKind.False ? element.GetBoolean() : throw this.Invalid(name, "a boolean"));

    /// <summary>A string argument; one whose escapes make a lone surrogate is refused, as a key the worker could not have meant.</summary>
    private string Text(JsonElement element, string name)
    {
        try
        {
            return element.GetString()!;
        }
        catch (InvalidOperationException ex)
        {
            throw new ArgumentException($"The '{name}' argument of a batched '{this.Method}' call is not valid UTF-16 text (a lone surrogate): {ex.Message}", name, ex);
        }
    }

    private static string Shorten(JsonElement element)
    {
        var text = element.ValueKind == JsonValueKind.Undefined ? "nothing" : element.GetRawText();
        return text.Length <= 64 ? text : string.Concat(text.AsSpan(0, 64), "...");
    }

    private JsonElement Required(int index, string name) =>
        index < this.count ? this.call[index] : throw new ArgumentException($"The batched '{this.Method}' call lacks its '{name}' argument.", name);

    /// <summary>An argument left out or given as null.</summary>
    private JsonElement? Optional(int index) =>
        index < this.count && this.call[index].ValueKind != JsonValueKind.Null ? this.call[index] : null;

    private ArgumentException Invalid(string name, string expected) =>
        new($"The '{name}' argument of a batched '{this.Method}' call must be {expected}.", name);
}
