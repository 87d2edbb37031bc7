using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>The changes an embedded store commits under a prefix from now on, as committed: with what they carry to workers (their <c>traceparent</c>).</summary>
internal sealed class CommittedChanges : IDisposable
{
    private readonly KeyValueStore store;
    private readonly ChangeOutbox outbox;
    private readonly StoreSubscription subscription;
    private readonly ConcurrentQueue<ChangeRecord> seen = new();
    private readonly SemaphoreSlim arrived = new(0);

    public CommittedChanges(KeyValueStore store, string prefix)
    {
        this.store = store;
        this.outbox = new ChangeOutbox(int.MaxValue, this.TakeAsync, NullLogger.Instance);
        this.subscription = new StoreSubscription(1, prefix, isPrefix: true, this.outbox);
        store.SubscribeLive(this.subscription);
    }

    /// <summary>Waits for the next change committed under the prefix, in version order.</summary>
    public async Task<ChangeRecord> NextAsync(CancellationToken cancellationToken)
    {
        await this.arrived.WaitAsync(cancellationToken);
        return this.seen.TryDequeue(out var change) ? change : throw new InvalidOperationException("A change was counted and not queued.");
    }

    public void Dispose()
    {
        this.store.Unsubscribe(this.subscription);
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
