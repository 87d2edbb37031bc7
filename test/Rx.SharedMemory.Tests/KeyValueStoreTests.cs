using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

public sealed class KeyValueStoreTests
{
    private readonly KeyValueStore store = new(new SharedMemoryOptions { MaxKeyLength = 8, MaxValueBytes = 16, ChangeLogCapacity = 4 });

    [Fact]
    public void EachMutation_TakesTheNextVersion()
    {
        Assert.Equal(1, this.store.Set("a", "1"u8.ToArray()));
        Assert.Equal(2, this.store.Set("b", "2"u8.ToArray()));
        Assert.Equal(3, this.store.Set("a", "3"u8.ToArray()));
        Assert.Equal(4, this.store.Delete("b"));
        Assert.Equal(3, this.store.Get("a")!.Value.Version);
        Assert.Null(this.store.Get("b"));
    }

    [Fact]
    public void DeleteOfAbsentKey_CommitsNothing()
    {
        this.store.Set("a", "1"u8.ToArray());
        Assert.Equal(0, this.store.Delete("missing"));
        Assert.Equal(1, this.store.Version);
    }

    [Fact]
    public void OversizedKeyOrValue_IsRefused_NamingKeyAndLimit_AndStoresNothing()
    {
        var value = Assert.Throws<SharedMemoryLimitExceededException>(() => this.store.Set("big", new byte[17]));
        Assert.Equal("big", value.Key);
        Assert.Equal(nameof(SharedMemoryOptions.MaxValueBytes), value.LimitName);
        Assert.Equal(16, value.Limit);
        Assert.Equal(17, value.Actual);
        Assert.Contains("'big'", value.Message, StringComparison.Ordinal);
        Assert.Contains("MaxValueBytes = 16", value.Message, StringComparison.Ordinal);

        var key = Assert.Throws<SharedMemoryLimitExceededException>(() => this.store.Set("123456789", "1"u8.ToArray()));
        Assert.Equal(nameof(SharedMemoryOptions.MaxKeyLength), key.LimitName);

        Assert.Throws<ArgumentException>(() => this.store.Set(string.Empty, "1"u8.ToArray()));
        Assert.Equal(0, this.store.Version);
        Assert.Equal(0, this.store.Count);
    }

    [Fact]
    public void RewritingTheLeastRecentlyUsedKey_EvictsTheOthers_NotItself()
    {
        // Keys cost 1 byte each, values as given: "a" grown to 6 bytes fits the limit only without "b".
        var store = new KeyValueStore(new SharedMemoryOptions { MaxBytes = 9 });
        store.Set("a", "1"u8.ToArray());
        store.Set("b", "22"u8.ToArray());

        store.Set("a", "333333"u8.ToArray());

        Assert.Null(store.Get("b"));
        Assert.Equal("333333"u8.ToArray(), store.Get("a")!.Value.Value);
        Assert.Equal(7, store.Bytes);
        Assert.Equal(1, store.Count);
    }

    [Fact]
    public void ChangeLog_CoversOnlyTheLastCapacityVersions()
    {
        var log = new ChangeLog(4, long.MaxValue);
        for (int v = 1; v <= 10; v++)
        {
            log.Append(new ChangeRecord("k", KeyChangeKind.Set, null, v, DateTimeOffset.UnixEpoch));
        }

        Assert.Equal(7, log.FirstVersion);
        Assert.True(log.CoversAfter(6));
        Assert.False(log.CoversAfter(5));
        Assert.False(log.CoversAfter(11));
        Assert.Equal([8L, 9, 10], log.After(7).Select(c => c.Version));
    }

    [Fact]
    public void ChangeLog_DropsItsOldestChanges_PastItsByteBound_KeepingARangeOfVersions()
    {
        var log = new ChangeLog(100, maxBytes: 1000);
        for (int v = 1; v <= 10; v++)
        {
            log.Append(new ChangeRecord("k", KeyChangeKind.Set, new byte[300], v, DateTimeOffset.UnixEpoch));
        }

        Assert.Equal(900, log.Bytes);
        Assert.Equal(8, log.FirstVersion);
        Assert.True(log.CoversAfter(7));
        Assert.False(log.CoversAfter(6));
        Assert.Equal([8L, 9, 10], log.After(0).Select(c => c.Version));

        // A change larger than the bound is held alone; a deletion (no value) costs nothing.
        log.Append(new ChangeRecord("k", KeyChangeKind.Set, new byte[5000], 11, DateTimeOffset.UnixEpoch));
        log.Append(new ChangeRecord("k", KeyChangeKind.Deleted, null, 12, DateTimeOffset.UnixEpoch));
        Assert.Equal([12L], log.After(0).Select(c => c.Version));
        Assert.Equal(0, log.Bytes);
    }

    [Fact]
    public async Task ResumeFromAVersionTheByteBoundDropped_GetsAReset_NotAGap()
    {
        using var store = new KeyValueStore(new SharedMemoryOptions { ChangeLogMaxBytes = 1000 });
        for (int i = 0; i < 10; i++)
        {
            store.Set("big", System.Text.Encoding.UTF8.GetBytes($"\"{new string('x', 298)}\""));
        }

        var first = new TaskCompletionSource<KeyChange>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var outbox = new ChangeOutbox(
            100,
            batch =>
            {
                first.TrySetResult(batch[0].Change.ToKeyChange(batch[0].Skipped));
                return default;
            },
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        store.Subscribe(new StoreSubscription(1, "big", isPrefix: false, outbox), fromVersion: 2);

        var change = await first.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(KeyChangeKind.Reset, change.Kind);
        Assert.Equal(10, change.Version);
    }

    [Fact]
    public async Task AChange_CarriesTheTraceParentItsWriteWasGiven_NeverTheCurrentActivity_AndNoneWhenTheStoreMadeIt()
    {
        const string First = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        const string Second = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
        using var store = new KeyValueStore(new SharedMemoryOptions { MaxEntries = 1 });
        using var committed = new CommittedChanges(store, string.Empty);
        using var ambient = new System.Diagnostics.Activity("ambient").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start();

        store.Set("a", "1"u8.ToArray(), owner: 7, traceParent: First);
        store.Set("b", "1"u8.ToArray(), owner: 7, traceParent: Second); // evicts a
        store.ReleaseOwner(7); // deletes b
        store.Set("c", "1"u8.ToArray());
        store.Delete("c", Second);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var changes = new List<(string, KeyChangeKind, string?)>();
        for (int i = 0; i < 6; i++)
        {
            var change = await committed.NextAsync(timeout.Token);
            changes.Add((change.Key, change.Kind, change.TraceParent));
        }

        Assert.Equal(
            [("a", KeyChangeKind.Set, First), ("a", KeyChangeKind.Evicted, null), ("b", KeyChangeKind.Set, Second), ("b", KeyChangeKind.Deleted, null), ("c", KeyChangeKind.Set, null), ("c", KeyChangeKind.Deleted, Second)],
            changes);
    }

    /// <summary>
    /// An owner's release deletes every ephemeral key it still owns, each deletion a version; a key another writer
    /// took over with a plain set stays (README, Ephemeral keys and locks).
    /// </summary>
    [Fact]
    public void AnOwnersManyEphemeralKeys_AllGo_ButOnesTakenOver()
    {
        using var store = new KeyValueStore(new SharedMemoryOptions());
        int owned = (2 * KeyValueStore.SnapshotChunkKeys) + 5;
        for (int i = 0; i < owned; i++)
        {
            store.Set($"e/{i}", "1"u8.ToArray(), owner: 7);
        }

        store.Set("e/100", "2"u8.ToArray());
        store.Set("other", "1"u8.ToArray());
        long before = store.Version;

        store.ReleaseOwner(7);

        Assert.Equal(2, store.Count);
        Assert.NotNull(store.Get("e/100"));
        Assert.Null(store.Get($"e/{owned - 1}"));
        Assert.Equal(before + owned - 1, store.Version);
    }
}
