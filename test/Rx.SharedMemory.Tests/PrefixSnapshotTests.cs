using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A large prefix's starting state is read a chunk at a time, with the store's lock released between chunks, and is
/// still the exact state at the version the subscription is registered at.
/// </summary>
public sealed class PrefixSnapshotTests
{
    private const int Keys = 5 * KeyValueStore.SnapshotChunkKeys;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(65_536)] // the log reaches back to the copy of the keys: the chunked state is brought to one version
    [InlineData(4)] // it does not: the state is taken again under one hold of the lock
    public async Task LargePrefixState_LetsWritersInBetweenChunks_AndIsExactAtTheRegisteredVersion(int changeLogCapacity)
    {
        using var store = new KeyValueStore(new SharedMemoryOptions { ChangeLogCapacity = changeLogCapacity });
        for (var i = 0; i < Keys; i++)
        {
            store.Set($"p/{i}", Json($"{i}"));
            store.Set($"q/{i}", Json($"{i}"));
        }

        // Between the first and second chunk, another thread writes: a key already read, one not yet read, a new one,
        // a deleted one, and one outside the prefix. Were the lock held for the whole state, these writes would wait
        // for it, and this wait would time out.
        var pauses = 0;
        store.BetweenSnapshotChunks = () =>
        {
            if (++pauses == 2)
            {
                var writer = new Thread(() =>
                {
                    store.Set("p/1", Json("\"rewritten\""));
                    store.Set($"p/{Keys - 1}", Json("\"rewritten late\""));
                    store.Set("p/new", Json("\"new\""));
                    store.Delete("p/2");
                    store.Delete($"p/{Keys - 2}");
                    store.Set("q/1", Json("\"outside\""));
                    for (var i = 0; i < 10; i++)
                    {
                        store.Set("p/3", Json($"{i}"));
                    }
                });
                writer.Start();
                Assert.True(writer.Join(Timeout), "a write between two chunks waited for the store's lock");
            }
        };

        var received = new ConcurrentQueue<ChangeRecord>();
        var whole = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var outbox = new ChangeOutbox(
            1_000_000,
            batch =>
            {
                foreach (var item in batch)
                {
                    received.Enqueue(item.Change);
                    if (received.Count > 1 && received.TryPeek(out var first) && received.Count == first.StateCount + 1)
                    {
                        whole.TrySetResult();
                    }
                }

                return default;
            },
            NullLogger.Instance);
        var registeredAt = store.Subscribe(new StoreSubscription(1, "p/", isPrefix: true, outbox), fromVersion: null);
        await whole.Task.WaitAsync(Timeout);

        Assert.True(pauses > Keys / KeyValueStore.SnapshotChunkKeys, $"the state was read in {pauses} pauses");
        var changes = received.ToArray();
        var marker = changes[0];
        Assert.Equal(KeyChangeKind.PrefixReset, marker.Kind);
        Assert.Equal(registeredAt, marker.Version);
        Assert.Equal(store.Version, registeredAt);

        // Exactly the store's keys under the prefix, each at its latest value and version, in version order.
        var resets = changes[1..];
        Assert.All(resets, change => Assert.Equal(KeyChangeKind.Reset, change.Kind));
        Assert.Equal(resets.OrderBy(c => c.Version).Select(c => c.Key), resets.Select(c => c.Key));
        var expected = Enumerable.Range(0, Keys).Select(i => $"p/{i}").Append("p/new").Where(k => store.Get(k) is not null).ToHashSet();
        Assert.Equal(expected.Order(StringComparer.Ordinal), resets.Select(c => c.Key).Order(StringComparer.Ordinal));
        foreach (var change in resets)
        {
            var stored = store.Get(change.Key)!.Value;
            Assert.Equal(stored.Version, change.Version);
            Assert.Equal(Encoding.UTF8.GetString(stored.Value), Encoding.UTF8.GetString(change.Value!));
        }

        Assert.DoesNotContain("p/2", expected);
        Assert.Equal("\"rewritten late\"", Encoding.UTF8.GetString(store.Get($"p/{Keys - 1}")!.Value.Value));

        // And a change after the registration follows the state.
        var next = store.Set("p/after", Json("1"));
        Assert.True(next > registeredAt);
    }

    private static byte[] Json(string json) => Encoding.UTF8.GetBytes(json);
}
