using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;

namespace Rx.SharedMemory;

/// <summary>
/// A message a worker sent its master (<see cref="SharedMemoryWorker.SendAsync{T}(T, CancellationToken)"/>), as
/// <see cref="SharedMemoryMaster.Messages"/> delivers it: the sender's id and the message's JSON.
/// </summary>
public sealed class WorkerMessage
{
    private readonly JsonSerializerOptions? options;

    internal WorkerMessage(int workerId, ReadOnlyMemory<byte> json, JsonSerializerOptions? options)
    {
        this.WorkerId = workerId;
        this.Json = json;
        this.options = options;
    }

    /// <summary>Gets the id of the worker that sent the message (<see cref="IWorker.Id"/>).</summary>
    public int WorkerId { get; }

    /// <summary>Gets the message as the worker sent it: one JSON value, UTF-8.</summary>
    public ReadOnlyMemory<byte> Json { get; }

    /// <summary>Reads the message as a <typeparamref name="T"/>, with the options the master's store reads its values with (<see cref="SharedMemoryOptions.JsonSerializerOptions"/>).</summary>
    /// <typeparam name="T">The type the worker sent, or one that reads the same JSON.</typeparam>
    /// <returns>The message; null for a JSON <c>null</c>.</returns>
    /// <exception cref="JsonException">The JSON does not fit <typeparamref name="T"/>.</exception>
    /// <exception cref="NotSupportedException">System.Text.Json cannot read a <typeparamref name="T"/>.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public T? Deserialize<T>() => JsonSerializer.Deserialize<T>(this.Json.Span, this.options);

    /// <summary>Reads the message as a <typeparamref name="T"/> with <paramref name="typeInfo"/>: safe under trimming and Native AOT.</summary>
    /// <typeparam name="T">The type the worker sent, or one that reads the same JSON.</typeparam>
    /// <param name="typeInfo">How to read it, from a source-generated <see cref="System.Text.Json.Serialization.JsonSerializerContext"/>.</param>
    /// <returns>The message; null for a JSON <c>null</c>.</returns>
    /// <exception cref="JsonException">The JSON does not fit <typeparamref name="T"/>.</exception>
    public T? Deserialize<T>(System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo) => JsonSerializer.Deserialize(this.Json.Span, typeInfo);

    /// <inheritdoc/>
    public override string ToString() => $"worker {this.WorkerId}: {Encoding.UTF8.GetString(this.Json.Span)}";
}
