using System.Text.Json;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>A master of protocol version 1 before features: hello, get and set, and nothing else; it records the calls it gets.</summary>
internal sealed class FeaturelessMaster
{
    private readonly Dictionary<string, (string Json, long Version)> values = [];

    public List<string> Calls { get; } = [];

    [JsonRpcMethod("hello")]
    public object Hello(int protocolVersion, int processId)
    {
        this.Calls.Add("hello");
        return new { protocolVersion, workerId = 1, maxKeyLength = 100, maxValueBytes = 1000 };
    }

    [JsonRpcMethod("set")]
    public long Set(string key, JsonElement value)
    {
        this.Calls.Add($"set {key}");
        this.values[key] = (value.GetRawText(), this.values.Count + 1);
        return this.values[key].Version;
    }

    [JsonRpcMethod("get")]
    public object? Get(string key)
    {
        this.Calls.Add($"get {key}");
        return this.values.TryGetValue(key, out var entry) ? new { value = JsonDocument.Parse(entry.Json).RootElement, version = entry.Version } : null;
    }
}
