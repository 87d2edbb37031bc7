using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// The changes a store commits under a prefix from now on, as an engine hands them to a master's subscriptions: with
/// what they carry to workers (their <c>traceparent</c>).
/// </summary>
internal sealed class CommittedChanges : IDisposable
{
    private readonly Action<StoreSubscription> unsubscribe;
    private readonly ChangeOutbox outbox;
    private readonly StoreSubscription subscription;
    private readonly ConcurrentQueue<ChangeRecord> seen = new();
    private readonly SemaphoreSlim arrived = new(0);

    public CommittedChanges(KeyValueStore store, string prefix)
        : this(s => store.SubscribeLive(s), store.Unsubscribe, prefix)
    {
    }

    public CommittedChanges(IStoreEngine engine, string prefix)
        : this(s => engine.SubscribeLive(s), engine.Unsubscribe, prefix)
    {
    }

    private CommittedChanges(Action<StoreSubscription> subscribe, Action<StoreSubscription> unsubscribe, string prefix)
    {
        this.unsubscribe = unsubscribe;
        this.outbox = new ChangeOutbox(int.MaxValue, this.TakeAsync, NullLogger.Instance);
        this.subscription = new StoreSubscription(1, prefix, isPrefix: true, this.outbox);
        subscribe(this.subscription);
    }

    /// <summary>Waits for the next change committed under the prefix, in version order.</summary>
    public async Task<ChangeRecord> NextAsync(CancellationToken cancellationToken)
    {
        await this.arrived.WaitAsync(cancellationToken);
        return this.seen.TryDequeue(out var change) ? change : throw new InvalidOperationException("A change was counted and not queued.");
    }

    public void Dispose()
    {
        this.unsubscribe(this.subscription);
        this.outbox.Dispose();
    }

    private ValueTask TakeAsync(IReadOnlyList<OutboxItem> batch)
    {
        foreach (var item in batch)
        {
            this.seen.Enqueue(item.Change);
            this.arrived.Release();
        }

        return default;
    }
}
