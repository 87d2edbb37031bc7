using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Redis;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>Where a master queues its messages to a worker's connection: in the order sent, after the changes committed before.</summary>
public sealed class MessageTurnTests : TestBase
{
    [Fact]
    public async Task AMessageCanceledWhileItWaits_LetsTheNextGoOnlyAfterTheOneBefore()
    {
        // The first and third wait for catch-ups that end together; the second, between them, is canceled first.
        for (int run = 0; run < 200; run++)
        {
            var got = new List<string>();
            var both = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var outbox = new ChangeOutbox(100, items =>
            {
                lock (got)
                {
                    got.AddRange(items.Where(i => i.Message is not null).Select(i => Encoding.UTF8.GetString(i.Message!)));
                    if (got.Count == 2)
                    {
                        both.TrySetResult();
                    }
                }

                return default;
            }, NullLogger.Instance);
            using var engine = new MemoryEngine(new SharedMemoryOptions());
            var connection = new WorkerConnection(engine, outbox, new SharedMemoryOptions(), 1, region: null, NullLogger.Instance);
            var firstCaughtUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var thirdCaughtUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var one = connection.SendJsonAsync("1"u8.ToArray(), firstCaughtUp.Task, this.TimeoutToken).AsTask();
            using var cancel = new CancellationTokenSource();
            var never = new TaskCompletionSource();
            var two = connection.SendJsonAsync("2"u8.ToArray(), never.Task, cancel.Token).AsTask();
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => two);
            var three = connection.SendJsonAsync("3"u8.ToArray(), thirdCaughtUp.Task, this.TimeoutToken).AsTask();
            await Task.Run(() =>
            {
                firstCaughtUp.SetResult();
                thirdCaughtUp.SetResult();
            });
            await Task.WhenAll(one, three, both.Task).WaitAsync(this.TimeoutToken);
            lock (got)
            {
                Assert.Equal(["1", "3"], got);
            }
        }
    }

    [Fact]
    public async Task Redis_AMessage_ComesAfterAChangeHeldBehindASubscriptionStillOpening()
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        await using var other = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        var engine = (RedisEngine)master.Engine;
        var received = new List<string>();
        var four = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var outbox = new ChangeOutbox(int.MaxValue, batch =>
        {
            lock (received)
            {
                received.AddRange(batch.Select(item => item.Message is { } m ? $"message {Encoding.UTF8.GetString(m)}" : $"{item.Change.Kind} {item.Change.Key}"));
                if (received.Count >= 4)
                {
                    four.TrySetResult();
                }
            }

            return default;
        }, NullLogger.Instance);
        var connection = new WorkerConnection(engine, outbox, new SharedMemoryOptions(), 1, region: null, NullLogger.Instance);
        await engine.SubscribeAsync(new StoreSubscription(1, "a", isPrefix: false, outbox), fromVersion: null, this.TimeoutToken);

        // A second subscription of the same connection is held while its state is read: what comes for the first
        // waits behind it.
        var second = await HeldStateRead.OpenAsync(engine, new StoreSubscription(2, "b", isPrefix: false, outbox), this.TimeoutToken);

        // Committed through the other master, then a message: it waits behind the change held back.
        var marked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        engine.Feed.MarkHeld = () => marked.TrySetResult();
        await other.Store.SetAsync("a", 2, this.TimeoutToken);
        var sent = connection.SendAsync("after-a", this.TimeoutToken).AsTask();
        await marked.Task.WaitAsync(this.TimeoutToken);
        second.Release();
        await Task.WhenAll(second.Opening, sent, four.Task).WaitAsync(this.TimeoutToken);

        lock (received)
        {
            Assert.Equal(["Reset a", "Reset b", "Set a", "message \"after-a\""], received);
        }
    }
}
