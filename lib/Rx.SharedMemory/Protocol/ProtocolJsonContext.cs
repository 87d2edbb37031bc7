using System.Text.Json.Serialization;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The contracts of the protocol's own messages where this library writes or reads them itself (a batch's answers and
/// errors, a worker's reading of results), generated at compile time: the protocol needs no reflection of its own.
/// </summary>
[JsonSerializable(typeof(EntryMessage<RawJson>))]
[JsonSerializable(typeof(EntryMessage<long>))]
[JsonSerializable(typeof(CompareAndSetMessage))]
[JsonSerializable(typeof(LimitErrorData))]
[JsonSerializable(typeof(HelloResult))]
[JsonSerializable(typeof(RawJson))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(string))]
internal sealed partial class ProtocolJsonContext : JsonSerializerContext;
