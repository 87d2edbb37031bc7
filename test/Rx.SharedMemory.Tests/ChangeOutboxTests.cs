using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

public sealed class ChangeOutboxTests : TestBase
{
    [Fact]
    public async Task BlockedConsumer_BoundsTheQueue_AndEndsWithTheLatestOfEachKey_WithSkipCounts()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstBatchTaken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var delivered = new List<OutboxItem>();
        var allDelivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        const int Capacity = 10;
        const int Writes = 10_000;
        using var outbox = new ChangeOutbox(Capacity, async batch =>
        {
            firstBatchTaken.TrySetResult();
            await gate.Task;
            lock (delivered)
            {
                delivered.AddRange(batch);
                if (delivered.Count > 0 && delivered[^1].Change.Version == Writes)
                {
                    allDelivered.TrySetResult();
                }
            }
        }, NullLogger.Instance);

        outbox.Enqueue(1, Change("k0", 0));
        await firstBatchTaken.Task.WaitAsync(this.TimeoutToken);
        for (int v = 1; v <= Writes; v++)
        {
            outbox.Enqueue(1, Change($"k{v % 5}", v));
            Assert.True(outbox.Count <= Capacity + 5, $"queue grew to {outbox.Count}");
        }

        gate.SetResult();
        await allDelivered.Task.WaitAsync(this.TimeoutToken);

        var versions = delivered.Select(i => i.Change.Version).ToArray();
        Assert.True(versions.Zip(versions.Skip(1)).All(p => p.First < p.Second), "delivery must stay in version order");
        Assert.Equal(Writes + 1, delivered.Count + delivered.Sum(i => i.Skipped));
        Assert.Equal(delivered.Sum(i => i.Skipped), outbox.Conflated);
        for (int k = 0; k < 5; k++)
        {
            var latest = Enumerable.Range(0, Writes + 1).Last(v => v % 5 == k);
            Assert.Equal(latest, delivered.Last(i => i.Change.Key == $"k{k}").Change.Version);
        }
    }

    [Fact]
    public async Task BlockedConsumer_OfLargeValues_BoundsTheQueuedBytes_AndEndsWithTheLatestOfEachKey()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstBatchTaken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var delivered = new List<OutboxItem>();
        var allDelivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        const int ValueBytes = 1000;
        const int MaxBytes = 10 * ValueBytes;
        const int Writes = 2_000;
        using var outbox = new ChangeOutbox(
            capacity: 1_000_000,
            async batch =>
            {
                firstBatchTaken.TrySetResult();
                await gate.Task;
                lock (delivered)
                {
                    delivered.AddRange(batch);
                    if (delivered[^1].Change.Version == Writes)
                    {
                        allDelivered.TrySetResult();
                    }
                }
            },
            NullLogger.Instance,
            maxBytes: MaxBytes);

        outbox.Enqueue(1, new ChangeRecord("k0", KeyChangeKind.Set, new byte[ValueBytes], 0, DateTimeOffset.UnixEpoch));
        await firstBatchTaken.Task.WaitAsync(this.TimeoutToken);
        for (int v = 1; v <= Writes; v++)
        {
            outbox.Enqueue(1, new ChangeRecord($"k{v % 5}", KeyChangeKind.Set, new byte[ValueBytes], v, DateTimeOffset.UnixEpoch));

            // The bound, plus the one change of each key that a newer one replaces at the tail.
            Assert.True(outbox.Bytes <= MaxBytes + (5 * ValueBytes), $"{outbox.Bytes} bytes waiting");
        }

        Assert.True(outbox.Conflated >= Writes - 15, $"only {outbox.Conflated} changes conflated");
        gate.SetResult();
        await allDelivered.Task.WaitAsync(this.TimeoutToken);
        Assert.Equal(Writes + 1, delivered.Count + delivered.Sum(i => i.Skipped));
        for (int k = 0; k < 5; k++)
        {
            var latest = Enumerable.Range(0, Writes + 1).Last(v => v % 5 == k);
            Assert.Equal(latest, delivered.Last(i => i.Change.Key == $"k{k}").Change.Version);
        }
    }

    [Fact]
    public async Task RemovedSubscription_GetsNothingThatWasWaiting()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstBatchTaken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var delivered = new List<OutboxItem>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var outbox = new ChangeOutbox(100, async batch =>
        {
            firstBatchTaken.TrySetResult();
            await gate.Task;
            lock (delivered)
            {
                delivered.AddRange(batch);
                if (batch.Any(i => i.Change.Key == "last"))
                {
                    done.TrySetResult();
                }
            }
        }, NullLogger.Instance);

        outbox.Enqueue(1, Change("first", 1));
        await firstBatchTaken.Task.WaitAsync(this.TimeoutToken);
        outbox.Enqueue(2, Change("removed", 2));
        outbox.Enqueue(1, Change("last", 3));
        outbox.Remove(2);
        gate.SetResult();
        await done.Task.WaitAsync(this.TimeoutToken);

        Assert.Equal(["first", "last"], delivered.Select(i => i.Change.Key));
    }

    [Fact]
    public async Task Delivery_RunsOutsideTheContextOfTheWriteThatStartedIt()
    {
        // The drain that starts for one write delivers later writes too: it must not run in the first writer's activity.
        var delivered = new TaskCompletionSource<Activity?>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var outbox = new ChangeOutbox(10, _ =>
        {
            delivered.TrySetResult(Activity.Current);
            return default;
        }, NullLogger.Instance);
        using (new Activity("writer").Start())
        {
            outbox.Enqueue(1, Change("k", 1));
        }

        Assert.Null(await delivered.Task.WaitAsync(this.TimeoutToken));
    }

    private static ChangeRecord Change(string key, long version) => new(key, KeyChangeKind.Set, "1"u8.ToArray(), version, DateTimeOffset.UnixEpoch);

    /// <summary>
    /// protocol.md, Back-pressure: the master holds at most MaxConnectionBufferBytes plus one answer for a worker that
    /// does not read. A change notification is one batch of up to 256 changes whatever their size, written in one go
    /// once less than 256 KiB wait: with 1 MiB values that is up to 256 MiB (bounded only by SubscriberQueueMaxBytes,
    /// 64 MiB by default), on top of the outbox's own 64 MiB that refills behind it.
    /// </summary>
    [Fact]
    public async Task ChangeNotification_IsBoundedInBytes()
    {
        var value = new byte[1024 * 1024];
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var batches = new List<long>();
        var seen = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var outbox = new ChangeOutbox(
            10_000,
            async batch =>
            {
                lock (batches)
                {
                    batches.Add(batch.Sum(item => (long)(item.Change.Value?.Length ?? 0)));
                }

                if (Interlocked.Add(ref seen, batch.Count) == 60)
                {
                    all.TrySetResult();
                }

                await first.Task.ConfigureAwait(false);
            },
            NullLogger.Instance,
            maxBytes: 64L * 1024 * 1024);
        for (int i = 0; i < 60; i++)
        {
            outbox.Enqueue(1, new ChangeRecord($"k{i}", KeyChangeKind.Set, value, i + 1, DateTimeOffset.UnixEpoch));
        }

        first.SetResult();
        await all.Task.WaitAsync(this.TimeoutToken);
        long largest;
        lock (batches)
        {
            largest = batches.Max();
        }

        Assert.True(largest <= new SharedMemoryOptions().MaxConnectionBufferBytes, $"one notification carried {largest / (1024 * 1024)} MiB of values");
    }
}
