using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The params of a <c>message</c> notification, the same both ways (docs/protocol.md): <c>{"message": &lt;JSON&gt;}</c>,
/// the message's JSON written as it is. Each end reads it by name into its handler's <c>message</c> parameter.
/// </summary>
/// <param name="Message">The message's JSON.</param>
internal readonly record struct MessageNotification([property: JsonPropertyName("message")] RawJson Message)
{
    /// <summary>The declared type of each argument, so that the formatter writes them without reflecting over an object.</summary>
    public static readonly IReadOnlyDictionary<string, Type> ArgumentTypes = new Dictionary<string, Type> { ["message"] = typeof(RawJson) };

    /// <summary>The notification's arguments by name, for <see cref="StreamJsonRpc.JsonRpc.NotifyWithParameterObjectAsync(string, IReadOnlyDictionary{string, object?}?, IReadOnlyDictionary{string, Type}?)"/>.</summary>
    /// <param name="json">The message's JSON.</param>
    /// <returns>The arguments.</returns>
    public static IReadOnlyDictionary<string, object?> Arguments(byte[] json) => new Dictionary<string, object?> { ["message"] = new RawJson(json) };
}
