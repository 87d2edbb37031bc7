using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Rx.SharedMemory.Rpc;

namespace Rx.SharedMemory.Messaging;

/// <summary>
/// A message's JSON as its sender writes it: serialized as the sender's store serializes values, and refused before it
/// travels when the master would refuse it as a value (<see cref="SharedMemoryOptions.MaxValueBytes"/>,
/// <see cref="SharedMemoryOptions.MaxValueDepth"/>).
/// </summary>
internal static class MessageJson
{
    /// <exception cref="SharedMemoryLimitExceededException">The JSON is too large or nested too deep.</exception>
    /// <exception cref="NotSupportedException">The message cannot be serialized.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static byte[] Serialize<T>(T message, JsonSerializerOptions? options, long maxValueBytes)
    {
        byte[] json;
        try
        {
            json = JsonSerializer.SerializeToUtf8Bytes(message, options);
        }
        catch (Exception ex) when (ValueErrors.IsSerializerError(ex))
        {
            throw new NotSupportedException($"A message of type {typeof(T)} cannot be serialized: {ex.Message}", ex);
        }

        return Check(json, maxValueBytes) is { } refused ? throw refused : json;
    }

    /// <inheritdoc cref="Serialize{T}(T, JsonSerializerOptions?, long)"/>
    public static byte[] Serialize<T>(T message, JsonTypeInfo<T> jsonTypeInfo, long maxValueBytes)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        byte[] json;
        try
        {
            json = JsonSerializer.SerializeToUtf8Bytes(message, jsonTypeInfo);
        }
        catch (Exception ex) when (ValueErrors.IsSerializerError(ex))
        {
            throw new NotSupportedException($"A message of type {typeof(T)} cannot be serialized: {ex.Message}", ex);
        }

        return Check(json, maxValueBytes) is { } refused ? throw refused : json;
    }

    /// <summary>The error a message of this JSON gets, or null when it may travel.</summary>
    public static SharedMemoryLimitExceededException? Check(ReadOnlySpan<byte> json, long maxValueBytes)
    {
        if (json.Length > maxValueBytes)
        {
            return SharedMemoryLimitExceededException.ForMessage(nameof(SharedMemoryOptions.MaxValueBytes), maxValueBytes, json.Length);
        }

        int depth = InputRules.Depth(json);
        return depth > SharedMemoryOptions.MaxValueDepth
            ? SharedMemoryLimitExceededException.ForMessage(nameof(SharedMemoryOptions.MaxValueDepth), SharedMemoryOptions.MaxValueDepth, depth)
            : null;
    }
}
