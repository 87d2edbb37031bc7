using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>The store's own removals and a slow subscriber's conflations are counted. In the non-parallel collection, since instruments are process-wide.</summary>
[Collection(nameof(Measurements))]
public sealed class MetricsTests : TestBase
{
    [Fact]
    public async Task EvictionsExpiriesAndConflations_AreCounted()
    {
        using var removed = new InstrumentRecorder<long>("rx.sharedmemory.keys.removed");
        using var conflated = new InstrumentRecorder<long>("rx.sharedmemory.changes.conflated");
        await using (var master = new SharedMemoryMaster(new SharedMemoryOptions { MaxEntries = 3 }))
        {
            var expired = new TaskCompletionSource();
            using var watching = master.Changes.Subscribe(c =>
            {
                if (c.Kind == KeyChangeKind.Expired)
                {
                    expired.TrySetResult();
                }
            });
            await master.Store.SetAsync("short-lived", 0, new SetOptions { TimeToLive = TimeSpan.FromMilliseconds(50) }, this.TimeoutToken);
            await expired.Task.WaitAsync(this.TimeoutToken);
            for (int i = 0; i < 5; i++)
            {
                await master.Store.SetAsync($"k{i}", i, this.TimeoutToken);
            }
        }

        var consumerBlocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long outboxConflated;
        using (var outbox = new ChangeOutbox(1, async _ => { consumerBlocked.TrySetResult(); await release.Task; }, NullLogger.Instance))
        {
            outbox.Enqueue(1, new ChangeRecord("k", KeyChangeKind.Set, "0"u8.ToArray(), 1, DateTimeOffset.UnixEpoch));
            await consumerBlocked.Task.WaitAsync(this.TimeoutToken);
            for (int v = 2; v <= 10; v++)
            {
                outbox.Enqueue(1, new ChangeRecord("k", KeyChangeKind.Set, "0"u8.ToArray(), v, DateTimeOffset.UnixEpoch));
            }

            outboxConflated = outbox.Conflated;
            release.SetResult();
        }

        Assert.Equal(1, removed.Measurements.Where(m => m.Tag == "expired").Sum(m => m.Value));
        Assert.Equal(2, removed.Measurements.Where(m => m.Tag == "evicted").Sum(m => m.Value));
        Assert.True(outboxConflated > 0);
        Assert.Equal(outboxConflated, conflated.Measurements.Sum(m => m.Value));
    }
}
