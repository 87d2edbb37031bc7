using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>The starting state of a subscription (a prefix reset, then a reset per key) survives conflation whole.</summary>
public sealed class StartingStateConflationTests : TestBase
{
    private const int Keys = 8;

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(4, 3)]
    [InlineData(50, 7)]
    public async Task PrefixSubscription_WhileItsKeysAreWrittenRoundRobin_AndTheConnectionIsBehind_StartsWithItsWholeState_AndCountsSkipsExactly(int roundsAfter, int seed)
    {
        using var store = new KeyValueStore(new SharedMemoryOptions());
        var random = new Random(seed);
        var consumer = new StalledConsumer();
        using var outbox = new ChangeOutbox(capacity: 2, consumer.DeliverAsync, NullLogger.Instance);
        for (int k = 0; k < Keys; k++)
        {
            store.Set($"p/k{k}", "0"u8.ToArray());
        }

        store.Set("busy", "0"u8.ToArray());

        // Another subscription of the same connection is busy: its changes fill the queue past its capacity.
        store.Subscribe(new StoreSubscription(1, "busy", isPrefix: false, outbox), fromVersion: null);
        await consumer.Stalled.WaitAsync(this.TimeoutToken);
        for (int i = 0; i < 5; i++)
        {
            store.Set("busy", "1"u8.ToArray());
        }

        long start = store.Subscribe(new StoreSubscription(2, "p/", isPrefix: true, outbox), fromVersion: null);
        var commits = new List<(string Key, long Version)>();
        for (int round = 0; round < roundsAfter; round++)
        {
            foreach (int k in Enumerable.Range(0, Keys).OrderBy(_ => random.Next()))
            {
                commits.Add(($"p/k{k}", store.Set($"p/k{k}", System.Text.Encoding.UTF8.GetBytes($"{round + 1}"))));
            }
        }

        var seen = (await consumer.ReleaseAsync(store.Version, this.TimeoutToken)).Where(i => i.SubscriptionId == 2).ToArray();

        Assert.Equal(KeyChangeKind.PrefixReset, seen[0].Change.Kind);
        Assert.Equal(start, seen[0].Change.Version);
        var resets = seen[1..(1 + Keys)];
        Assert.All(resets, r => Assert.Equal(KeyChangeKind.Reset, r.Change.Kind));
        Assert.All(resets, r => Assert.Equal(0, r.Skipped));
        Assert.Equal(Enumerable.Range(0, Keys).Select(k => $"p/k{k}"), resets.Select(r => r.Change.Key).Order(StringComparer.Ordinal));
        var live = seen[(1 + Keys)..];
        Assert.All(live, c => Assert.Equal(KeyChangeKind.Set, c.Change.Kind));
        Assert.True(live.Zip(live.Skip(1)).All(p => p.First.Change.Version < p.Second.Change.Version), "changes must come in version order");

        // Skipped counts exactly the commits to the key after the last one delivered for it (or after the state).
        var lastSeen = resets.ToDictionary(r => r.Change.Key, _ => start);
        foreach (var item in live)
        {
            long expected = commits.Count(c => c.Key == item.Change.Key && c.Version > lastSeen[item.Change.Key] && c.Version < item.Change.Version);
            Assert.Equal(expected, item.Skipped);
            lastSeen[item.Change.Key] = item.Change.Version;
        }

        foreach (var key in lastSeen.Keys)
        {
            long last = commits.Where(c => c.Key == key).Select(c => c.Version).DefaultIfEmpty(start).Max();
            Assert.Equal(last, lastSeen[key]);
        }
    }

    [Fact]
    public async Task KeySubscription_WhileItsKeyIsWritten_AndTheConnectionIsBehind_StartsWithItsReset()
    {
        using var store = new KeyValueStore(new SharedMemoryOptions());
        var consumer = new StalledConsumer();
        using var outbox = new ChangeOutbox(capacity: 1, consumer.DeliverAsync, NullLogger.Instance);
        store.Set("k", "0"u8.ToArray());
        store.Set("busy", "0"u8.ToArray());
        store.Subscribe(new StoreSubscription(1, "busy", isPrefix: false, outbox), fromVersion: null);
        await consumer.Stalled.WaitAsync(this.TimeoutToken);
        store.Set("busy", "1"u8.ToArray());
        store.Subscribe(new StoreSubscription(2, "k", isPrefix: false, outbox), fromVersion: null);
        store.Set("k", "1"u8.ToArray());
        store.Set("k", "2"u8.ToArray());
        store.Delete("k");

        var seen = (await consumer.ReleaseAsync(store.Version, this.TimeoutToken)).Where(i => i.SubscriptionId == 2).ToArray();

        Assert.Equal(2, seen.Length);
        Assert.Equal((KeyChangeKind.Reset, 1L, 0L), (seen[0].Change.Kind, seen[0].Change.Version, seen[0].Skipped));
        Assert.Equal((KeyChangeKind.Deleted, store.Version, 2L), (seen[1].Change.Kind, seen[1].Change.Version, seen[1].Skipped));
    }

    /// <summary>Takes the first batch and holds it until released, so that everything after it waits in the outbox.</summary>
    private sealed class StalledConsumer
    {
        private readonly TaskCompletionSource stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<List<OutboxItem>> done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<OutboxItem> delivered = [];
        private long lastVersion = long.MaxValue;

        public Task Stalled => this.stalled.Task;

        public async ValueTask DeliverAsync(IReadOnlyList<OutboxItem> batch)
        {
            this.stalled.TrySetResult();
            await this.release.Task.ConfigureAwait(false);
            lock (this.delivered)
            {
                this.delivered.AddRange(batch);
                if (this.delivered.Count > 0 && this.delivered[^1].Change.Version >= Volatile.Read(ref this.lastVersion))
                {
                    this.done.TrySetResult([.. this.delivered]);
                }
            }
        }

        public Task<List<OutboxItem>> ReleaseAsync(long lastVersion, CancellationToken cancellationToken)
        {
            Volatile.Write(ref this.lastVersion, lastVersion);
            this.release.TrySetResult();
            return this.done.Task.WaitAsync(cancellationToken);
        }
    }
}
