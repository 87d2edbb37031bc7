using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Redis;
using StackExchange.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// The wake-up each commit publishes carries its changes (up to 8, in up to 64 KiB): another master hands them out from it, without
/// a read of the log, when they follow what it handed out last; its reader reads them otherwise.
/// </summary>
public sealed class RedisWakeUpTests : TestBase
{
    private const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    [Fact]
    public async Task AnotherMastersChanges_ReachThisMastersSubscriptions_FromTheirWakeUps_WithTheReaderHeld()
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        using var writer = await RedisEngine.ConnectAsync(where, new SharedMemoryOptions(), NullLogger.Instance, this.TimeoutToken);
        var changes = master.Store.ObservePrefix("p/").Replay();
        using var recording = changes.Connect();
        await changes.FirstAsync(c => c.Kind == KeyChangeKind.PrefixReset).ToTask(this.TimeoutToken);
        var feed = ((RedisEngine)master.Engine).Feed;

        // The reader cannot read the log: what reaches the subscription came in a wake-up.
        using (await HeldReader.HoldAsync(feed, this.TimeoutToken, wakeUpsToo: false))
        {
            long first = await writer.SetAsync("p/a", "1"u8.ToArray(), null, 0, null, this.TimeoutToken);
            Task<long>[] batch;
            using (writer.BeginBatch())
            {
                batch = [.. Enumerable.Range(2, 3).Select(i => writer.SetAsync($"p/b{i}", Encoding.UTF8.GetBytes($"{i}"), null, 0, null, this.TimeoutToken).AsTask())];
            }

            var versions = await Task.WhenAll(batch).WaitAsync(this.TimeoutToken);
            long deleted = await writer.DeleteAsync("p/a", null, this.TimeoutToken);

            var seen = await changes.Skip(1).Take(5).ToArray().ToTask(this.TimeoutToken);
            Assert.Equal(
                [("p/a", KeyChangeKind.Set, first, "1"), ("p/b2", KeyChangeKind.Set, versions[0], "2"), ("p/b3", KeyChangeKind.Set, versions[1], "3"), ("p/b4", KeyChangeKind.Set, versions[2], "4"), ("p/a", KeyChangeKind.Deleted, deleted, "")],
                seen.Select(c => (c.Key, c.Kind, c.Version, c.HasValue ? c.GetValue<int>().ToString(System.Globalization.CultureInfo.InvariantCulture) : "")));
            Assert.Equal(deleted, feed.Position);
        }

        // A change larger than a wake-up carries: the reader reads it from the log.
        var large = Encoding.UTF8.GetBytes($"\"{new string('x', 70_000)}\"");
        long version = await writer.SetAsync("p/large", large, null, 0, null, this.TimeoutToken);
        var read = await changes.FirstAsync(c => c.Key == "p/large").ToTask(this.TimeoutToken);
        Assert.Equal((version, 70_000), (read.Version, read.GetValue<string>()!.Length));
    }

    [Fact]
    public async Task AWakeUp_CarriesItsChanges_UpTo8In64KiB_AndOtherwiseItsLastVersion()
    {
        var where = NewRedisStore();
        using var writer = await RedisEngine.ConnectAsync(where, new SharedMemoryOptions(), NullLogger.Instance, this.TimeoutToken);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.Configuration);
        var wakeUps = await redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal($"{{{where.StoreName}}}:changes"));

        // One change, with a deadline and a trace: all of it, whatever its bytes.
        const string Value = "\"a b:c=d 12:e \u00e9\u20ac\ud83d\ude00\"";
        long set = await writer.SetAsync("k é", Encoding.UTF8.GetBytes(Value), TimeSpan.FromMinutes(5), 0, TraceParent, this.TimeoutToken);
        var carried = RedisChangeFeed.ReadNews((await wakeUps.ReadAsync(this.TimeoutToken)).Message);
        var (change, hasDeadline) = Assert.Single(carried!);
        Assert.Equal(("k é", KeyChangeKind.Set, set, Value, TraceParent, true), (change.Key, change.Kind, change.Version, Encoding.UTF8.GetString(change.Value!), change.TraceParent, hasDeadline));

        // A deletion: no value.
        long deleted = await writer.DeleteAsync("k é", null, this.TimeoutToken);
        (change, hasDeadline) = Assert.Single(RedisChangeFeed.ReadNews((await wakeUps.ReadAsync(this.TimeoutToken)).Message)!);
        Assert.Equal(("k é", KeyChangeKind.Deleted, deleted, null, null, false), (change.Key, change.Kind, change.Version, change.Value, change.TraceParent, hasDeadline));

        // A value past 64 KiB: its version alone, with its change's stamp (key, kind and time, no value).
        var large = Encoding.UTF8.GetBytes($"\"{new string('x', 70_000)}\"");
        long alone = await writer.SetAsync("large", large, null, 0, null, this.TimeoutToken);
        Assert.Equal((alone, "large"), await LastVersionAloneAsync());

        // A batch: one wake-up with its changes in order, up to 8 of them.
        var versions = await this.BatchAsync(writer, 8, i => ($"s{i}", Encoding.UTF8.GetBytes($"{i}"), null));
        carried = RedisChangeFeed.ReadNews((await wakeUps.ReadAsync(this.TimeoutToken)).Message);
        Assert.Equal(versions.Select((v, i) => ($"s{i}", v)), carried!.Select(c => (c.Change.Key, c.Change.Version)));

        // Past 8 changes, or past 64 KiB: the batch's last version alone.
        versions = await this.BatchAsync(writer, 9, i => ($"s{i}", Encoding.UTF8.GetBytes($"{i}"), null));
        Assert.Equal((versions[^1], "s8"), await LastVersionAloneAsync());
        var half = Encoding.UTF8.GetBytes($"\"{new string('y', 40_000)}\"");
        versions = await this.BatchAsync(writer, 2, i => ($"b{i}", half, null));
        Assert.Equal((versions[^1], "b1"), await LastVersionAloneAsync());

        // Eight traced changes whose keys and values make 63.5 KiB with the log's own count (entry_size) take more in the
        // message: the bound is the message's.
        var value = Encoding.UTF8.GetBytes($"\"{new string('z', 8_098)}\"");
        versions = await this.BatchAsync(writer, 8, i => ($"t{i}", value, TraceParent));
        Assert.Equal((versions[^1], "t7"), await LastVersionAloneAsync());

        async Task<(long Version, string Key)> LastVersionAloneAsync()
        {
            var message = (await wakeUps.ReadAsync(this.TimeoutToken)).Message;
            Assert.Null(RedisChangeFeed.ReadNews(message));
            var stamp = RedisChangeFeed.ReadStamp(message);
            Assert.NotNull(stamp);
            Assert.Equal(KeyChangeKind.Set, stamp.Kind);
            return (stamp.Version, stamp.Key);
        }
    }

    private async Task<long[]> BatchAsync(RedisEngine writer, int count, Func<int, (string Key, byte[] Value, string? Trace)> write)
    {
        Task<long>[] writes;
        using (writer.BeginBatch())
        {
            writes = [.. Enumerable.Range(0, count).Select(write).Select(w => writer.SetAsync(w.Key, w.Value, null, 0, w.Trace, this.TimeoutToken).AsTask())];
        }

        return await Task.WhenAll(writes).WaitAsync(this.TimeoutToken);
    }

    [Fact]
    public async Task AWakeUpWhoseChangesDoNotFollowTheLastHandedOut_OrThatDoesNotRead_HandsNothingOut()
    {
        await using var master = await RedisSharedMemory.StartMasterAsync(NewRedisStore(), cancellationToken: this.TimeoutToken);
        var feed = ((RedisEngine)master.Engine).Feed;
        using var held = await HeldReader.HoldAsync(feed, this.TimeoutToken, wakeUpsToo: false);
        long at = feed.Position;

        // Two versions ahead: a wake-up missed in between (or one too large to carry its changes). Then malformed ones.
        feed.Published(News(at + 2, "late"));
        feed.Published("=");
        feed.Published("= 1 2 1:k");
        feed.Published($"= {at + 1} 2 1:k 9:x");
        feed.Published($"= {at + 1} 3 1:k 1:x 1:t");
        feed.Published($"= {at + 1} 0");
        feed.Published($"= {at + 1} 4 1:k 1:x 1:t 1:0");
        feed.Published($"= {at + 1} 6 1:k 1:x 1:t 1:9 1:s 1:0");
        feed.Published($"= {at + 1} 6 1:k 1:x 1:t 1:0 1:s 16:9999999999999999");
        feed.Published($"= {at + 1} 999999999 1:k 1:x");
        feed.Published($"= {at + 1} 6 1:k 1:x 1:t 1:0 1:s 1:0 99999999999999999999:x");
        Assert.Equal(at, feed.Position);

        // The next version, then the one after it: each follows.
        feed.Published(News(at + 1, "next"));
        Assert.Equal(at + 1, feed.Position);
        feed.Published(News(at + 2, "late"));
        Assert.Equal(at + 2, feed.Position);

        // Already handed out: skipped.
        feed.Published(News(at + 1, "next"));
        Assert.Equal(at + 2, feed.Position);

        static RedisValue News(long version, string key) =>
            $"= {version} 6 1:k {Encoding.UTF8.GetByteCount(key)}:{key} 1:t 1:0 1:s 13:1795713006123";
    }
}
