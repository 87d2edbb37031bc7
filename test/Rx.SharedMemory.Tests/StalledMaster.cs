using System.Text.Json;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A master that greets a worker and takes its subscriptions, then never answers a get, a set, a batch or a lock: its
/// calls stay in flight until the test ends the connection, as a master that dies mid-call does.
/// </summary>
/// <param name="batches">Whether it offers the <c>batch</c> feature (the worker then sends its data operations in batches).</param>
internal sealed class StalledMaster(bool batches)
{
    private readonly TaskCompletionSource never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<long> Subscribed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Gets a task that completes when a data operation (a get, or a batch) has arrived.</summary>
    public TaskCompletionSource DataCallReceived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Gets a task that completes when a lock request has arrived.</summary>
    public TaskCompletionSource LockReceived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    [JsonRpcMethod("hello")]
    public object Hello(int protocolVersion, int processId) =>
        new { protocolVersion, workerId = 1, maxKeyLength = 100, maxValueBytes = 1000, features = batches ? new[] { "batch" } : [] };

    [JsonRpcMethod("subscribe")]
    public long Subscribe(long subscription, string key, bool prefix = false, long? fromVersion = null)
    {
        this.Subscribed.TrySetResult(subscription);
        return 0;
    }

    [JsonRpcMethod("get")]
    public async Task<object?> GetAsync(string key)
    {
        this.DataCallReceived.TrySetResult();
        await this.never.Task;
        return null;
    }

    [JsonRpcMethod("set")]
    public async Task<long> SetAsync(string key, JsonElement value, double? ttlMs = null, bool ephemeral = false)
    {
        await this.never.Task;
        return 0;
    }

    [JsonRpcMethod("batch")]
    public async Task<object?> BatchAsync(JsonElement calls)
    {
        this.DataCallReceived.TrySetResult();
        await this.never.Task;
        return null;
    }

    [JsonRpcMethod("lock")]
    public async Task<long> LockAsync(string name, double timeoutMs)
    {
        this.LockReceived.TrySetResult();
        await this.never.Task;
        return 0;
    }
}
