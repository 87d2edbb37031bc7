using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>Messages in a connection's outbox: in order with its changes, never conflated, bounded by waiting.</summary>
public sealed class MessageOutboxTests : TestBase
{
    [Fact]
    public async Task Messages_StayInOrderWithChanges_AndNoChangeConflatesAcrossAMessage()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstBatchTaken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var delivered = new List<OutboxItem>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var outbox = new ChangeOutbox(2, async batch =>
        {
            firstBatchTaken.TrySetResult();
            await gate.Task;
            lock (delivered)
            {
                delivered.AddRange(batch);
                if (delivered.Any(i => i.Message is [(byte)'9']))
                {
                    done.TrySetResult();
                }
            }
        }, NullLogger.Instance, maxBytes: long.MaxValue);

        outbox.Enqueue(1, Change("k", 0));
        await firstBatchTaken.Task.WaitAsync(this.TimeoutToken);

        // Past the capacity of two, changes to k conflate, but only with those on the same side of a message.
        outbox.Enqueue(1, Change("k", 1));
        outbox.Enqueue(1, Change("k", 2));
        outbox.Enqueue(1, Change("k", 3));
        Task sent = outbox.EnqueueMessageAsync("1"u8.ToArray(), this.TimeoutToken).AsTask();
        outbox.Enqueue(1, Change("k", 4));
        outbox.Enqueue(1, Change("k", 5));
        Task last = outbox.EnqueueMessageAsync("9"u8.ToArray(), this.TimeoutToken).AsTask();
        gate.SetResult();
        await done.Task.WaitAsync(this.TimeoutToken);
        await Task.WhenAll(sent, last).WaitAsync(this.TimeoutToken);

        string Describe(OutboxItem item) => item.Message is { } m ? $"m{(char)m[0]}" : $"c{item.Change.Version}";
        Assert.Equal(["c0", "c1", "c3", "m1", "c5", "m9"], delivered.Select(Describe));
        Assert.Equal(1, delivered.Single(i => i.Message is null && i.Change.Version == 3).Skipped);
        Assert.Equal(1, delivered.Single(i => i.Message is null && i.Change.Version == 5).Skipped);
    }

    [Fact]
    public async Task Messages_PastTheCapacity_WaitForRoom_InTheOrderSent_AndNoneIsDropped()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var delivered = new List<byte>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var outbox = new ChangeOutbox(3, async batch =>
        {
            await gate.Task;
            lock (delivered)
            {
                delivered.AddRange(batch.Select(i => i.Message![0]));
                if (delivered.Count == 10)
                {
                    done.TrySetResult();
                }
            }
        }, NullLogger.Instance);

        // At most three wait in the outbox and three in the blocked delivery (which took all that waited); the rest wait
        // for room, in order.
        var sends = Enumerable.Range(0, 10).Select(i => outbox.EnqueueMessageAsync([(byte)('0' + i)], this.TimeoutToken).AsTask()).ToArray();
        Assert.True(sends[0].IsCompleted);
        Assert.False(sends[9].IsCompleted);
        Assert.True(sends.Count(s => s.IsCompleted) <= 6, $"{sends.Count(s => s.IsCompleted)} were let in past the capacity of 3");

        gate.SetResult();
        await done.Task.WaitAsync(this.TimeoutToken);
        await Task.WhenAll(sends).WaitAsync(this.TimeoutToken);
        Assert.Equal("0123456789"u8.ToArray(), delivered);
    }

    [Fact]
    public async Task AWaitingMessage_FailsWhenTheOutboxIsDisposed()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outbox = new ChangeOutbox(1, async _ => await gate.Task, NullLogger.Instance);
        var sends = Enumerable.Range(0, 4).Select(i => outbox.EnqueueMessageAsync([(byte)'x'], this.TimeoutToken).AsTask()).ToArray();

        outbox.Dispose();
        gate.SetResult();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => sends[^1]);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => outbox.EnqueueMessageAsync([(byte)'y'], this.TimeoutToken).AsTask());
    }

    private static ChangeRecord Change(string key, long version) => new(key, KeyChangeKind.Set, [(byte)'1'], version, DateTimeOffset.UnixEpoch);
}
