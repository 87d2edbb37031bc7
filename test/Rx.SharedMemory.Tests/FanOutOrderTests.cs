using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Store;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Writers, subscribes and unsubscribes racing on one store: each outbox must receive its items in commit order, each
/// subscription its starting state and then every matching change, and nothing once its unsubscribe has returned.
/// </summary>
public sealed class FanOutOrderTests(ITestOutputHelper output) : TestBase
{
    private const long Dummy = -1;
    private const long Sentinel = -2;
    private const int Writers = 3;
    private const int Subscribers = 2;

    // Each subscriber's calls, each holding at most MaxActive subscriptions, and the commits per call, the pace that
    // keeps writers and subscribers in step.
    private const int CallsEach = 400;
    private const int MaxActive = 16;
    private const int CommitsPerCall = 8;

    private static readonly string[] Keys = ["a/0", "a/1", "a/2", "a/3", "b/0", "b/1", "b/2", "b/3", "c"];
    private static readonly (string Filter, bool IsPrefix)[] Filters =
        [.. Keys.Select(k => (k, false)), (string.Empty, true), ("a/", true), ("b/", true), ("a/1", true)];

    private enum Start
    {
        State,
        Live,
        Resume,
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task RacingWritesAndSubscriptions_ReachEachOutboxInCommitOrder_WholeUntilUnsubscribed(int seed)
    {
        // A short log, so that resumes both replay it and fall back to the state.
        using var store = new KeyValueStore(new SharedMemoryOptions { ChangeLogCapacity = 64 });

        // The record of every commit: registered first, never unsubscribed, and held until the end, so that a writer can
        // see that its changes are queued when its call returns.
        var recorder = new Consumer(stalled: true);
        store.SubscribeLive(new StoreSubscription(0, string.Empty, isPrefix: true, recorder.Outbox));

        // Two outboxes delivering as they go, and two holding everything until the end, so that anything queued for a
        // subscription after its unsubscribe returned stays in sight.
        Consumer[] consumers = [new(stalled: false), new(stalled: false), new(stalled: true), new(stalled: true)];
        foreach (var consumer in consumers.Append(recorder).Where(c => c.IsStalled))
        {
            consumer.Outbox.Enqueue(Dummy, new ChangeRecord("dummy", KeyChangeKind.Set, null, 0, DateTimeOffset.UnixEpoch));
            await consumer.Stalled.WaitAsync(this.TimeoutToken);
        }

        long nextId = 0;
        var subscriptions = new List<Subscription>();
        int calls = 0;
        int subscribing = Subscribers;
        int writing = Writers;
        using var started = new Barrier(Writers + Subscribers);
        // Threads of their own: they wait for each other at the start, and keep in step.
        var writers = Enumerable.Range(0, Writers).Select(w => Task.Factory.StartNew(() =>
        {
            var random = new Random(seed * 100 + w);
            started.SignalAndWait(this.TimeoutToken);
            try
            {
                for (int i = 0; Volatile.Read(ref subscribing) > 0 && !this.TimeoutToken.IsCancellationRequested; i++)
                {
                    // In step with the subscribers: a pace, not a wait for anything.
                    if (store.Version >= (long)CommitsPerCall * (Volatile.Read(ref calls) + 1))
                    {
                        Thread.Yield();
                        continue;
                    }

                    string key = Keys[random.Next(Keys.Length)];
                    long version = random.Next(7) == 0
                        ? store.Delete(key)
                        : store.Set(key, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"[{w},{i}]")));

                    // Its change, and every one before it, is in the record's outbox: a writer cannot outrun its fan-out.
                    int queued = recorder.Outbox.Count;
                    Assert.True(queued >= version, $"the write of version {version} returned with {queued} changes queued for the record");
                }
            }
            finally
            {
                Interlocked.Decrement(ref writing);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        var subscribers = Enumerable.Range(0, Subscribers).Select(s => Task.Factory.StartNew(() =>
        {
            var random = new Random(seed * 100 + 50 + s);
            var active = new List<Subscription>();
            started.SignalAndWait(this.TimeoutToken);
            try
            {
                for (int i = 0; i < CallsEach && !this.TimeoutToken.IsCancellationRequested;)
                {
                    // In step with the writers: a pace, not a wait for anything.
                    if (store.Version < (long)CommitsPerCall * (Volatile.Read(ref calls) - 1) && Volatile.Read(ref writing) == Writers)
                    {
                        Thread.Yield();
                        continue;
                    }

                    i++;
                    Interlocked.Increment(ref calls);
                    if (active.Count >= MaxActive || (active.Count > 0 && random.Next(4) == 0))
                    {
                        var gone = active[random.Next(active.Count)];
                        active.Remove(gone);
                        store.Unsubscribe(gone.Registration);
                        gone.UnsubscribedAt = store.Version;
                        continue;
                    }

                    var (filter, isPrefix) = Filters[random.Next(Filters.Length)];
                    var consumer = consumers[random.Next(consumers.Length)];
                    var start = (Start)random.Next(3);
                    long? from = start == Start.Resume ? Math.Max(0, store.Version - random.Next(100)) : null;
                    var subscription = new Subscription(new StoreSubscription(Interlocked.Increment(ref nextId), filter, isPrefix, consumer.Outbox), consumer, start, from);
                    subscription.RegisteredAt = start == Start.Live
                        ? store.SubscribeLive(subscription.Registration)
                        : store.Subscribe(subscription.Registration, from);
                    active.Add(subscription);
                    lock (subscriptions)
                    {
                        subscriptions.Add(subscription);
                    }
                }
            }
            finally
            {
                Interlocked.Decrement(ref subscribing);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        await Task.WhenAll(writers.Concat(subscribers)).WaitAsync(this.TimeoutToken);

        // Everything queued comes out before a sentinel queued last.
        foreach (var consumer in consumers.Append(recorder))
        {
            consumer.Release();
            consumer.Outbox.Enqueue(Sentinel, new ChangeRecord("sentinel", KeyChangeKind.Set, null, 0, DateTimeOffset.UnixEpoch));
            await consumer.Done.WaitAsync(this.TimeoutToken);
        }

        // The record holds every commit once, in version order.
        var commits = recorder.Items.Select(i => i.Change).ToArray();
        Assert.Equal(Enumerable.Range(1, (int)store.Version).Select(v => (long)v), commits.Select(c => c.Version));

        var byId = subscriptions.ToDictionary(s => s.Registration.Id);
        var received = consumers.ToDictionary(c => c, c => c.Items.Select(item =>
        {
            var subscription = byId[item.SubscriptionId];
            subscription.Seen.Add(item.Change);
            return (Subscription: subscription, Index: subscription.Seen.Count - 1, Item: item);
        }).ToArray());

        foreach (var subscription in subscriptions)
        {
            subscription.Check(commits);
        }

        // Across its subscriptions, each outbox received its items in the order they were committed: a starting state
        // as of its registration, after the change of that version and before the next.
        foreach (var consumer in consumers)
        {
            var items = received[consumer];
            var order = items.Select(i => i.Subscription.OrderOf(i.Index, i.Item.Change)).ToArray();
            for (int i = 1; i < order.Length; i++)
            {
                Assert.True(order[i - 1].CompareTo(order[i]) <= 0, $"an outbox received {Describe(items[i].Item)} after {Describe(items[i - 1].Item)}");
            }
        }

        output.WriteLine($"{commits.Length} commits; {subscriptions.Count} subscriptions, {subscriptions.Count(s => s.UnsubscribedAt is not null)} unsubscribed; {consumers.Sum(c => c.Items.Count)} items delivered");
        Assert.Contains(subscriptions, s => s.UnsubscribedAt is not null && s.Consumer.IsStalled);
    }

    private static string Describe(OutboxItem item) => $"{item.Change.Kind} {item.Change.Key}@{item.Change.Version} (subscription {item.SubscriptionId})";

    private static (string Key, KeyChangeKind Kind, long Version, string? Value) Content(ChangeRecord change) =>
        (change.Key, change.Kind, change.Version, change.Value is null ? null : Encoding.UTF8.GetString(change.Value));

    /// <summary>An outbox whose consumer records what it delivers, at once or (stalled) only once released.</summary>
    private sealed class Consumer
    {
        private readonly TaskCompletionSource? release;
        private readonly TaskCompletionSource stalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Consumer(bool stalled)
        {
            this.release = stalled ? new(TaskCreationOptions.RunContinuationsAsynchronously) : null;
            this.Outbox = new ChangeOutbox(int.MaxValue, this.DeliverAsync, NullLogger.Instance);
        }

        public ChangeOutbox Outbox { get; }

        public bool IsStalled => this.release is not null;

        /// <summary>Gets what was delivered, in order; read once <see cref="Done"/> has completed.</summary>
        public List<OutboxItem> Items { get; } = [];

        public Task Stalled => this.stalled.Task;

        public Task Done => this.done.Task;

        public void Release() => this.release?.TrySetResult();

        private async ValueTask DeliverAsync(IReadOnlyList<OutboxItem> batch)
        {
            lock (this.Items)
            {
                foreach (var item in batch)
                {
                    if (item.SubscriptionId == Sentinel)
                    {
                        this.done.TrySetResult();
                    }
                    else if (item.SubscriptionId != Dummy)
                    {
                        this.Items.Add(item);
                    }
                }
            }

            if (this.release is not null)
            {
                this.stalled.TrySetResult();
                await this.release.Task.ConfigureAwait(false);
            }
        }
    }

    private sealed class Subscription(StoreSubscription registration, Consumer consumer, Start start, long? from)
    {
        // How many of the items seen are the starting state, once checked.
        private int stateItems;

        public StoreSubscription Registration { get; } = registration;

        public Consumer Consumer { get; } = consumer;

        public long RegisteredAt { get; set; }

        /// <summary>Gets or sets the store's version once its unsubscribe returned; null while subscribed.</summary>
        public long? UnsubscribedAt { get; set; }

        public List<ChangeRecord> Seen { get; } = [];

        private string What => $"subscription {this.Registration.Id} to {(this.Registration.IsPrefix ? "prefix" : "key")} '{this.Registration.KeyOrPrefix}' ({start}{(from is { } f ? $" from {f}" : string.Empty)}) registered at {this.RegisteredAt}{(this.UnsubscribedAt is { } u ? $", unsubscribed by {u}" : string.Empty)}";

        /// <summary>Gets where its item <paramref name="index"/> falls among the commits: a change at its version, the starting state just after its registration.</summary>
        public (long Version, int State) OrderOf(int index, ChangeRecord change) =>
            index < this.stateItems ? (this.RegisteredAt, 1) : (change.Version, 0);

        public void Check(ChangeRecord[] commits)
        {
            var matching = commits.Where(c => this.Registration.Matches(c.Key)).ToArray();
            var live = matching.Where(c => c.Version > this.RegisteredAt).ToArray();

            // What it may see: its state and the changes after it; or, resumed from a version the log still held, the
            // logged changes after that version and the changes after them.
            var expected = new List<(ChangeRecord[] Stream, int StateItems)>();
            if (start == Start.Live)
            {
                expected.Add((live, 0));
            }
            else
            {
                var state = this.StateAt(commits);
                expected.Add(([.. state, .. live], state.Length));
                if (from is { } resumedFrom)
                {
                    var replayed = matching.Where(c => c.Version > resumedFrom && c.Version <= this.RegisteredAt).ToArray();
                    expected.Add(([.. replayed, .. live], replayed.Length));
                }
            }

            var seen = this.Seen.Select(Content).ToArray();
            if (this.UnsubscribedAt is { } unsubscribedAt)
            {
                // Nothing queued once the unsubscribe returned: a held outbox delivers nothing of it, another no change
                // committed after it, and what it delivered is the start of the stream, without a gap.
                Assert.True(!this.Consumer.IsStalled || seen.Length == 0, $"{this.What}: its outbox held {seen.Length} items for it after its unsubscribe returned");
                Assert.True(this.Seen.All(c => c.Version <= unsubscribedAt), $"{this.What}: saw {string.Join(", ", this.Seen.Where(c => c.Version > unsubscribedAt).Select(c => c.Version))} after its unsubscribe returned");
            }

            foreach (var (stream, stateItems) in expected)
            {
                var wanted = stream.Select(Content).ToArray();
                bool fits = this.UnsubscribedAt is null ? seen.SequenceEqual(wanted) : seen.Length <= wanted.Length && seen.SequenceEqual(wanted[..seen.Length]);
                if (fits)
                {
                    this.stateItems = Math.Min(stateItems, seen.Length);
                    return;
                }
            }

            Assert.Fail($"{this.What}: saw {string.Join(", ", seen.Select(c => $"{c.Kind} {c.Key}@{c.Version}"))}; expected {string.Join(" or ", expected.Select(e => string.Join(", ", e.Stream.Select(c => $"{c.Kind} {c.Key}@{c.Version}"))))}");
        }

        /// <summary>The starting state as of its registration: a key's value or absence; a prefix's marker, then its keys' values oldest first.</summary>
        private ChangeRecord[] StateAt(ChangeRecord[] commits)
        {
            var last = new Dictionary<string, ChangeRecord>();
            foreach (var commit in commits.Where(c => c.Version <= this.RegisteredAt && this.Registration.Matches(c.Key)))
            {
                last[commit.Key] = commit;
            }

            string filter = this.Registration.KeyOrPrefix;
            if (!this.Registration.IsPrefix)
            {
                return last.TryGetValue(filter, out var change) && change.Kind == KeyChangeKind.Set
                    ? [change with { Kind = KeyChangeKind.Reset }]
                    : [new ChangeRecord(filter, KeyChangeKind.Reset, null, this.RegisteredAt, default)];
            }

            return
            [
                new ChangeRecord(filter, KeyChangeKind.PrefixReset, null, this.RegisteredAt, default),
                .. last.Values.Where(c => c.Kind == KeyChangeKind.Set).OrderBy(c => c.Version).Select(c => c with { Kind = KeyChangeKind.Reset }),
            ];
        }
    }
}
