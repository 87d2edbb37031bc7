using System.Text.Json;
using System.Text.Json.Serialization;
using Rx.SharedMemory.Worker;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The contracts of every type the protocol's messages carry (the arguments, results and error data of its methods and
/// notifications, and a batch's answers and errors), generated at compile time: a connection
/// (<see cref="Rpc.ProtocolFormatter"/>) needs no reflection.
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
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(double))]
[JsonSerializable(typeof(double?))]
[JsonSerializable(typeof(long?))]
[JsonSerializable(typeof(bool?))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(JsonElement?))]
[JsonSerializable(typeof(BatchRequest))]
[JsonSerializable(typeof(ChangeBatch))]
[JsonSerializable(typeof(PooledJson))]
internal sealed partial class ProtocolJsonContext : JsonSerializerContext;
