using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>The engines the contract tests run against.</summary>
public enum TestEngine
{
    /// <summary>The embedded engine: every operation completes at once.</summary>
    Memory,

    /// <summary>The embedded engine behind <see cref="DeferredEngine"/>: every answer comes later, on another thread.</summary>
    Deferred,

    /// <summary>The Redis engine, on the run's <see cref="RedisServer"/>, a store of the test's own.</summary>
    Redis,
}

/// <summary>
/// An engine shaped as a remote one is: each operation reaches the store in the order it was called (as commands
/// reach a server over one connection), and its answer comes later, on a thread-pool thread. The master's paths for
/// an engine that does not answer at once (the release gate's landing calls, a batch that outlives its request's
/// JSON, subscriptions registered later) run with it.
/// </summary>
internal sealed class DeferredEngine(MemoryEngine inner) : IStoreEngine
{
    public MemoryEngine Inner => inner;

    public long Version => inner.Version;

    public int Count => inner.Count;

    public long Bytes => inner.Bytes;

    public int SubscriptionCount => inner.SubscriptionCount;

    public StoreSize? Size => inner.Size;

    public ValueTask<StoredValue?> GetAsync(string key, CancellationToken cancellationToken) => LaterAsync(inner.GetAsync(key, cancellationToken));

    public ValueTask<long> SetAsync(string key, byte[] utf8Json, TimeSpan? timeToLive, long owner, string? traceParent, CancellationToken cancellationToken) =>
        LaterAsync(inner.SetAsync(key, utf8Json, timeToLive, owner, traceParent, cancellationToken));

    public ValueTask<CompareAndSetResult> CompareAndSetAsync(string key, long expectedVersion, byte[] utf8Json, TimeSpan? timeToLive, long owner, string? traceParent, CancellationToken cancellationToken) =>
        LaterAsync(inner.CompareAndSetAsync(key, expectedVersion, utf8Json, timeToLive, owner, traceParent, cancellationToken));

    public ValueTask<(long Value, long Version)> IncrementAsync(string key, long delta, string? traceParent, CancellationToken cancellationToken) =>
        LaterAsync(inner.IncrementAsync(key, delta, traceParent, cancellationToken));

    public ValueTask<long> DeleteAsync(string key, string? traceParent, CancellationToken cancellationToken) => LaterAsync(inner.DeleteAsync(key, traceParent, cancellationToken));

    public Task<long> LockAsync(string name, long owner, TimeSpan timeout, CancellationToken cancellationToken) =>
        LaterAsync(new ValueTask<long>(inner.LockAsync(name, owner, timeout, cancellationToken))).AsTask();

    public ValueTask<bool> UnlockAsync(string name, long token, long owner, CancellationToken cancellationToken) => LaterAsync(inner.UnlockAsync(name, token, owner, cancellationToken));

    public ValueTask<long> CatchUpPointAsync(CancellationToken cancellationToken) => inner.CatchUpPointAsync(cancellationToken);

    public ValueTask CaughtUpAsync(long point, ChangeOutbox outbox, CancellationToken cancellationToken) => inner.CaughtUpAsync(point, outbox, cancellationToken);

    public async ValueTask ReleaseOwnerAsync(long owner, CancellationToken cancellationToken)
    {
        await inner.ReleaseOwnerAsync(owner, cancellationToken);
        await AnswerLaterAsync();
    }

    public ValueTask<long> SubscribeAsync(StoreSubscription subscription, long? fromVersion, CancellationToken cancellationToken) =>
        LaterAsync(inner.SubscribeAsync(subscription, fromVersion, cancellationToken));

    public long SubscribeLive(StoreSubscription subscription) => inner.SubscribeLive(subscription);

    public void Unsubscribe(StoreSubscription subscription) => inner.Unsubscribe(subscription);

    public void Dispose() => inner.Dispose();

    private static async ValueTask<T> LaterAsync<T>(ValueTask<T> answered)
    {
        // Awaited first: a failure of the operation itself is answered later too, as a remote one is.
        try
        {
            var result = await answered;
            await AnswerLaterAsync();
            return result;
        }
        catch
        {
            await AnswerLaterAsync();
            throw;
        }
    }

    /// <summary>Completes on a thread-pool thread, never on the caller's, whatever its synchronization context.</summary>
    private static Task AnswerLaterAsync()
    {
        var answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ThreadPool.UnsafeQueueUserWorkItem(static a => a.SetResult(), answer, preferLocal: false);
        return answer.Task;
    }
}
