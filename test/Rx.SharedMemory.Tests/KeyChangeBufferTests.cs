namespace Rx.SharedMemory.Tests;

public sealed class KeyChangeBufferTests : TestBase
{
    [Fact]
    public async Task ConsumerThatFellBehind_GetsTheLatestOfEachKey_WithSkipCounts_InVersionOrder()
    {
        var buffer = new KeyChangeBuffer(capacity: 4);
        for (int v = 1; v <= 1_000; v++)
        {
            buffer.OnNext(new KeyChange($"k{v % 3}", KeyChangeKind.Set, v, DateTimeOffset.UnixEpoch, (ReadOnlyMemory<byte>?)"1"u8.ToArray(), skippedVersions: v == 1 ? 5 : 0));
        }

        buffer.OnCompleted();
        var taken = new List<KeyChange>();
        Assert.True(await buffer.TakeAsync(taken, this.TimeoutToken));
        Assert.False(await buffer.TakeAsync([], this.TimeoutToken));

        Assert.True(taken.Count <= 4 + 3, $"{taken.Count} changes were kept");
        Assert.Equal(1_000 + 5, taken.Count + taken.Sum(c => c.SkippedVersions));
        Assert.Equal([998L, 999, 1000], taken.TakeLast(3).Select(c => c.Version));
        Assert.True(taken.Zip(taken.Skip(1)).All(p => p.First.Version < p.Second.Version));
    }

    [Fact]
    public async Task ConsumerThatFellBehind_KeepsTheStartingState_AheadOfTheConflatedChanges()
    {
        var buffer = new KeyChangeBuffer(capacity: 1);
        buffer.OnNext(Change("p/", KeyChangeKind.PrefixReset, 10));
        buffer.OnNext(Change("p/a", KeyChangeKind.Reset, 3));
        buffer.OnNext(Change("p/b", KeyChangeKind.Reset, 5));
        for (int v = 11; v <= 20; v++)
        {
            buffer.OnNext(Change(v % 2 == 0 ? "p/a" : "p/b", KeyChangeKind.Set, v));
        }

        var taken = new List<KeyChange>();
        Assert.True(await buffer.TakeAsync(taken, this.TimeoutToken));

        Assert.Equal(
            [(KeyChangeKind.PrefixReset, "p/", 10L, 0L), (KeyChangeKind.Reset, "p/a", 3, 0), (KeyChangeKind.Reset, "p/b", 5, 0), (KeyChangeKind.Set, "p/b", 19, 4), (KeyChangeKind.Set, "p/a", 20, 4)],
            taken.Select(c => (c.Kind, c.Key, c.Version, c.SkippedVersions)));
    }

    [Fact]
    public async Task SourceError_IsThrownAfterWhatCameBeforeIt()
    {
        var buffer = new KeyChangeBuffer(capacity: 10);
        buffer.OnNext(new KeyChange("k", KeyChangeKind.Deleted, 1, DateTimeOffset.UnixEpoch, (ReadOnlyMemory<byte>?)null, 0));
        buffer.OnError(new SharedMemoryDisconnectedException());

        var taken = new List<KeyChange>();
        Assert.True(await buffer.TakeAsync(taken, this.TimeoutToken));
        Assert.Single(taken);
        await Assert.ThrowsAsync<SharedMemoryDisconnectedException>(() => buffer.TakeAsync([], this.TimeoutToken).AsTask());
    }

    private static KeyChange Change(string key, KeyChangeKind kind, long version) =>
        new(key, kind, version, DateTimeOffset.UnixEpoch, kind == KeyChangeKind.PrefixReset ? null : (ReadOnlyMemory<byte>?)"1"u8.ToArray(), 0);
}
