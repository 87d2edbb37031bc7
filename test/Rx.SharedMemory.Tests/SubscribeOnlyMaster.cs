using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>A master that only greets a worker and takes its subscriptions: the test sends the changes and ends the connection itself.</summary>
internal sealed class SubscribeOnlyMaster
{
    public TaskCompletionSource<long> Subscribed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    [JsonRpcMethod("hello")]
    public object Hello(int protocolVersion, int processId) => new { protocolVersion, workerId = 1, maxKeyLength = 100, maxValueBytes = 1000 };

    [JsonRpcMethod("subscribe")]
    public long Subscribe(long subscription, string key, bool prefix = false, long? fromVersion = null)
    {
        this.Subscribed.TrySetResult(subscription);
        return 0;
    }
}
