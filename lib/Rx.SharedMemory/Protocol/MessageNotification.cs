using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The params of a <c>message</c> notification, the same both ways (docs/protocol.md): <c>{"message": &lt;JSON&gt;}</c>,
/// the message's JSON written as it is. Each end reads it by name into its handler's <c>message</c> parameter.
/// </summary>
/// <param name="Message">The message's JSON.</param>
internal readonly record struct MessageNotification([property: JsonPropertyName("message")] RawJson Message);
