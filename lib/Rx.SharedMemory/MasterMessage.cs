using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Rx.SharedMemory;

/// <summary>
/// A message the master sent a worker (<see cref="IWorker.SendAsync{T}(T, CancellationToken)"/> or
/// <see cref="SharedMemoryMaster.BroadcastAsync{T}(T, CancellationToken)"/>, or their overloads with a
/// <see cref="JsonTypeInfo{T}"/>), as <see cref="SharedMemoryWorker.Messages"/> delivers it.
/// </summary>
public sealed class MasterMessage
{
    private readonly JsonSerializerOptions? options;

    internal MasterMessage(ReadOnlyMemory<byte> json, JsonSerializerOptions? options)
    {
        this.Json = json;
        this.options = options;
    }

    /// <summary>Gets the message as the master sent it: one JSON value, UTF-8.</summary>
    public ReadOnlyMemory<byte> Json { get; }

    /// <summary>Reads the message as a <typeparamref name="T"/>, with the options the worker reads its values with.</summary>
    /// <typeparam name="T">The type the master sent, or one that reads the same JSON.</typeparam>
    /// <returns>The message; null for a JSON <c>null</c>.</returns>
    /// <exception cref="JsonException">The JSON does not fit <typeparamref name="T"/>.</exception>
    /// <exception cref="NotSupportedException">System.Text.Json cannot read a <typeparamref name="T"/>.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public T? Deserialize<T>() => JsonSerializer.Deserialize<T>(this.Json.Span, this.options);

    /// <summary>Reads the message as a <typeparamref name="T"/> with <paramref name="jsonTypeInfo"/>: safe under trimming and Native AOT.</summary>
    /// <typeparam name="T">The type the master sent, or one that reads the same JSON.</typeparam>
    /// <param name="jsonTypeInfo">How to read it, from a source-generated <see cref="System.Text.Json.Serialization.JsonSerializerContext"/>.</param>
    /// <returns>The message; null for a JSON <c>null</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="JsonException">The JSON does not fit <typeparamref name="T"/>.</exception>
    public T? Deserialize<T>(JsonTypeInfo<T> jsonTypeInfo)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        return JsonSerializer.Deserialize(this.Json.Span, jsonTypeInfo);
    }

    /// <inheritdoc/>
    public override string ToString() => Encoding.UTF8.GetString(this.Json.Span);
}
