using System.Text.Json;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A master of protocol version 1 before features: hello, get and set, and nothing else; it records the calls it gets.
/// Given <c>features</c>, its hello lists them (it takes none of them but <c>traceContext</c>, which it only records).
/// </summary>
internal sealed class FeaturelessMaster(params string[] features)
{
    private readonly Dictionary<string, (string Json, long Version)> values = [];

    public List<string> Calls { get; } = [];

    /// <summary>Gets the strategy to give its connection: it records each request's method and traceparent, and starts nothing.</summary>
    public TraceParentRecorder TraceParents { get; } = new();

    [JsonRpcMethod("hello")]
    public object Hello(int protocolVersion, int processId)
    {
        this.Calls.Add("hello");
        return features.Length == 0
            ? new { protocolVersion, workerId = 1, maxKeyLength = 100, maxValueBytes = 1000 }
            : new { protocolVersion, workerId = 1, maxKeyLength = 100, maxValueBytes = 1000, features };
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

/// <summary>Records the <c>traceparent</c> of each request a connection receives, by method; starts no activity.</summary>
internal sealed class TraceParentRecorder : IActivityTracingStrategy
{
    public System.Collections.Concurrent.ConcurrentQueue<(string? Method, string? TraceParent)> Received { get; } = new();

    public void ApplyOutboundActivity(StreamJsonRpc.Protocol.JsonRpcRequest request)
    {
    }

    public IDisposable? ApplyInboundActivity(StreamJsonRpc.Protocol.JsonRpcRequest request)
    {
        this.Received.Enqueue((request.Method, request.TraceParent));
        return null;
    }
}
