using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Rx.SharedMemory;

/// <summary>One committed change to a key, as delivered to subscribers.</summary>
/// <remarks>
/// Changes reach a subscriber in version order, each once. <see cref="SkippedVersions"/> is above zero only when
/// the subscriber fell behind and earlier changes to this key were conflated into this one.
/// </remarks>
public sealed class KeyChange
{
    private readonly ReadOnlyMemory<byte> utf8Value;
    private JsonElement value;
    private bool valueParsed;

    internal KeyChange(string key, KeyChangeKind kind, long version, DateTimeOffset timestamp, ReadOnlyMemory<byte>? utf8Value, long skippedVersions)
    {
        this.Key = key;
        this.Kind = kind;
        this.Version = version;
        this.Timestamp = timestamp;
        this.SkippedVersions = skippedVersions;
        this.HasValue = utf8Value is not null;
        this.utf8Value = utf8Value ?? default;
    }

    internal KeyChange(string key, KeyChangeKind kind, long version, DateTimeOffset timestamp, JsonElement? value, long skippedVersions)
    {
        this.Key = key;
        this.Kind = kind;
        this.Version = version;
        this.Timestamp = timestamp;
        this.SkippedVersions = skippedVersions;
        this.HasValue = value is not null;
        this.value = value ?? default;
        this.valueParsed = true;
    }

    /// <summary>Gets the key that changed.</summary>
    public string Key { get; }

    /// <summary>Gets what happened to the key.</summary>
    public KeyChangeKind Kind { get; }

    /// <summary>Gets the store version this change was committed at (for a <see cref="KeyChangeKind.Reset"/>, the version of the state it carries).</summary>
    public long Version { get; }

    /// <summary>Gets when the master committed the change.</summary>
    public DateTimeOffset Timestamp { get; }

    /// <summary>
    /// Gets how many changes to this key the subscriber will never see because they were conflated into this one when
    /// it fell behind: exactly the changes to the key committed after the subscription's previous change of it (or
    /// after the state or version it started from) and before this one. Always 0 for a
    /// <see cref="KeyChangeKind.Reset"/> and a <see cref="KeyChangeKind.PrefixReset"/>.
    /// </summary>
    public long SkippedVersions { get; }

    /// <summary>
    /// Gets, for a <see cref="KeyChangeKind.PrefixReset"/>, how many <see cref="KeyChangeKind.Reset"/> changes follow it
    /// as the prefix's state; -1 when the change is of another kind or its source did not say.
    /// </summary>
    internal int StateCount { get; init; } = -1;

    /// <summary>Gets the W3C <c>traceparent</c> of the write that made the change, as a worker received it (unchecked); null for none.</summary>
    internal string? TraceParent { get; init; }

    /// <summary>Gets a value indicating whether this change carries a value (a set, or a reset of an existing key).</summary>
    public bool HasValue { get; }

    /// <summary>
    /// Gets a value indicating whether the key exists once this change is applied: <see langword="true"/> for a
    /// <see cref="KeyChangeKind.Set"/> and for a <see cref="KeyChangeKind.Reset"/> of an existing key (even when its
    /// value is JSON <c>null</c>); <see langword="false"/> for a deletion, an expiry, an eviction, a
    /// <see cref="KeyChangeKind.Reset"/> of an absent key and a <see cref="KeyChangeKind.PrefixReset"/>.
    /// </summary>
    public bool Exists => this.HasValue;

    /// <summary>Gets the value as JSON; <see cref="JsonValueKind.Undefined"/> when <see cref="HasValue"/> is <see langword="false"/>.</summary>
    public JsonElement Value
    {
        get
        {
            if (!this.valueParsed)
            {
                // Parsed on first use: most master-side consumers of a change never look at its value.
                this.value = this.HasValue ? JsonElement.Parse(this.utf8Value.Span) : default;
                this.valueParsed = true;
            }

            return this.value;
        }
    }

    /// <summary>Deserializes the value, resolving <typeparamref name="T"/> at run time as <see cref="JsonSerializer"/> does.</summary>
    /// <typeparam name="T">The type to read the value as.</typeparam>
    /// <param name="options">Serializer options; <see langword="null"/> for System.Text.Json's defaults (not the store's: a change does not know its store).</param>
    /// <returns>The value, or <see langword="default"/> when the change carries none.</returns>
    /// <exception cref="JsonException">The value is not a valid <typeparamref name="T"/>.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public T? GetValue<T>(JsonSerializerOptions? options = null)
    {
        if (!this.HasValue)
        {
            return default;
        }

        return this.valueParsed ? this.value.Deserialize<T>(options) : JsonSerializer.Deserialize<T>(this.utf8Value.Span, options);
    }

    /// <summary>Deserializes the value with the type's JSON contract.</summary>
    /// <typeparam name="T">The type to read the value as.</typeparam>
    /// <param name="jsonTypeInfo">How to read <typeparamref name="T"/>, such as a source-generated context's property for it.</param>
    /// <returns>The value, or <see langword="default"/> when the change carries none.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="JsonException">The value is not a valid <typeparamref name="T"/>.</exception>
    public T? GetValue<T>(JsonTypeInfo<T> jsonTypeInfo)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        if (!this.HasValue)
        {
            return default;
        }

        return this.valueParsed ? this.value.Deserialize(jsonTypeInfo) : JsonSerializer.Deserialize(this.utf8Value.Span, jsonTypeInfo);
    }

    /// <summary>The same change, reporting that <paramref name="skippedVersions"/> earlier changes were conflated into it.</summary>
    /// <remarks>The casts keep a change without a value without one: a bare null would become an empty value (byte[] to memory).</remarks>
    internal KeyChange WithSkipped(long skippedVersions) => this.valueParsed
        ? new(this.Key, this.Kind, this.Version, this.Timestamp, this.HasValue ? this.value : (JsonElement?)null, skippedVersions) { StateCount = this.StateCount, TraceParent = this.TraceParent }
        : new(this.Key, this.Kind, this.Version, this.Timestamp, this.HasValue ? this.utf8Value : (ReadOnlyMemory<byte>?)null, skippedVersions) { StateCount = this.StateCount, TraceParent = this.TraceParent };

    /// <inheritdoc/>
    public override string ToString() => this.HasValue
        ? $"{this.Kind} {this.Key} v{this.Version}: {this.Value.GetRawText()}"
        : $"{this.Kind} {this.Key} v{this.Version}";
}
