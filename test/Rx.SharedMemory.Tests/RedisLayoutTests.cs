using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Rx.SharedMemory.Redis;
using StackExchange.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// What the Redis engine keeps in Redis, read back with a client of its own: the change log's trimming in steps, the
/// uses kept only where a bound can evict, the function library loaded again where Redis lost it, and a key's entry
/// of the older form.
/// </summary>
public sealed class RedisLayoutTests : TestBase
{
    [Fact]
    public async Task ALargeLog_IsTrimmedBackToItsCapacity_OnceItPassesItByA64th_WithItsBytesCounted()
    {
        // 4,096 entries and a 64th more (64) before a trim: after 4,170 writes the log was trimmed at the 4,161st.
        const int Capacity = 4_096, Writes = 4_170;
        var where = NewRedisStore();
        await using var store = await RedisSharedMemory.ConnectStoreAsync(where, new SharedMemoryOptions { ChangeLogCapacity = Capacity }, cancellationToken: this.TimeoutToken);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.Configuration);
        var db = redis.GetDatabase();
        string log = $"{{{where.StoreName}}}:log";
        long first = 0, last = 0;
        for (int i = 0; i < Writes; i++)
        {
            last = await store.SetAsync($"k{i % 50}", i, this.TimeoutToken);
            first = first == 0 ? last : first;
            if (i == Capacity + 64 - 1)
            {
                Assert.Equal(Capacity + 64, await db.StreamLengthAsync(log));
            }
        }

        Assert.Equal(Capacity + (Writes - (Capacity + 64) - 1), await db.StreamLengthAsync(log));

        // The oldest entries went, the newest stayed, and the byte count is what the remaining entries hold.
        var entries = await db.StreamRangeAsync(log);
        Assert.Equal($"{last}-0", (string?)entries[^1].Id);
        Assert.Equal($"{last - entries.Length + 1}-0", (string?)entries[0].Id);
        long bytes = entries.Sum(e => 32L + e.Values.Where(v => v.Name == "k" || v.Name == "v").Sum(v => (long)((byte[])v.Value!).Length));
        Assert.Equal(bytes, (long)await db.StringGetAsync($"{{{where.StoreName}}}:logbytes"));

        // A resume from before the log is a Reset of the current value.
        var resumed = await store.Observe("k0", fromVersion: first).FirstAsync().ToTask(this.TimeoutToken);
        Assert.Equal(KeyChangeKind.Reset, resumed.Kind);
    }

    [Fact]
    public async Task AResumeFromFarBack_ReadsTheLogAPageAtATime_AndMissesNothing()
    {
        // 3,000 changes after the resume's version, half of them to the key observed: three pages of the log.
        await using var store = await RedisSharedMemory.ConnectStoreAsync(NewRedisStore(), cancellationToken: this.TimeoutToken);
        long from = await store.SetAsync("a", -1, this.TimeoutToken);
        var expected = new List<(long Version, int Value)>();
        for (int i = 0; i < 3_000; i++)
        {
            long version = await store.SetAsync(i % 2 == 0 ? "a" : "b", i, this.TimeoutToken);
            if (i % 2 == 0)
            {
                expected.Add((version, i));
            }
        }

        int replays = 0;
        store.Engine.Sending = function =>
        {
            if (function == RedisScripts.Replay)
            {
                Interlocked.Increment(ref replays);
            }
        };
        var resumed = await store.Observe("a", fromVersion: from).Take(expected.Count).Select(c => (c.Version, c.Value.GetInt32())).ToList().ToTask(this.TimeoutToken);

        Assert.Equal(expected, resumed);
        Assert.Equal(3, replays);
    }

    [Fact]
    public async Task KeysWrittenWithoutABound_AreEvictedFirst_InKeyOrder_ByAStoreWithOne()
    {
        var where = NewRedisStore();
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.Configuration);
        var db = redis.GetDatabase();
        await using (var unbounded = await RedisSharedMemory.ConnectStoreAsync(where, new SharedMemoryOptions { MaxBytes = null }, cancellationToken: this.TimeoutToken))
        {
            foreach (var key in new[] { "c", "a", "b" })
            {
                await unbounded.SetAsync(key, key, this.TimeoutToken);
            }
        }

        // No bound could evict: no use was kept.
        Assert.Equal(0, await db.SortedSetLengthAsync($"{{{where.StoreName}}}:lru"));

        var bounded = new SharedMemoryOptions { MaxEntries = 3, EvictionPolicy = EvictionPolicy.LeastRecentlyUsed };
        await using var store = await RedisSharedMemory.ConnectStoreAsync(where, bounded, cancellationToken: this.TimeoutToken);
        var evictions = store.ObservePrefix(string.Empty).Where(c => c.Kind == KeyChangeKind.Evicted).Select(c => c.Key).Replay();
        using var recording = evictions.Connect();
        await store.SetAsync("d", "d", this.TimeoutToken);
        await store.SetAsync("e", "e", this.TimeoutToken);

        // The keys without a use went before "d", whose use was kept, in key order.
        Assert.Equal(["a", "b"], await evictions.Take(2).ToArray().ToTask(this.TimeoutToken));
        Assert.Null(await store.GetAsync<string>("a", this.TimeoutToken));
        Assert.Equal("d", await store.GetAsync<string>("d", this.TimeoutToken));
        Assert.Equal(3, await db.HashLengthAsync($"{{{where.StoreName}}}:values"));
    }

    [Fact]
    public async Task ALibraryRedisLost_IsLoadedAgain_AndTheCallRunsOnce()
    {
        var where = NewRedisStore();
        await using var store = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.Configuration + ",allowAdmin=true");
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        long before = (await store.IncrementAsync("n", 1, this.TimeoutToken)).Value;

        // Only this build's library goes: the other tests' masters use the same one, and load it again as this does.
        await server.ExecuteAsync("FUNCTION", "DELETE", RedisScripts.LibraryName);
        var after = await store.IncrementAsync("n", 1, this.TimeoutToken);

        Assert.Equal(before + 1, after.Value);
        var libraries = await server.ExecuteAsync("FUNCTION", "LIST", "LIBRARYNAME", RedisScripts.LibraryName);
        Assert.Single((RedisResult[])libraries!);
    }

    [Fact]
    public async Task AKeyOfTheOlderForm_IsRead_Rewritten_AndDeleted_WithItsDeadlineOwnerAndBytes()
    {
        var where = NewRedisStore();
        await using var store = await RedisSharedMemory.ConnectStoreAsync(where, cancellationToken: this.TimeoutToken);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.Configuration);
        var db = redis.GetDatabase();
        string tag = $"{{{where.StoreName}}}";
        long version = await store.SetAsync("k", "value", new SetOptions { TimeToLive = TimeSpan.FromHours(1) }, this.TimeoutToken);

        // The entry as an earlier build wrote it: version and timestamp only.
        string meta = (string)(await db.HashGetAsync($"{tag}:meta", "k"))!;
        await db.HashSetAsync($"{tag}:meta", "k", string.Join(',', meta.Split(',')[..2]));

        var entry = await store.GetEntryAsync<string>("k", this.TimeoutToken);
        Assert.Equal(("value", version), (entry!.Value, entry.Version));
        await store.SetAsync("k", "longer value", this.TimeoutToken);
        Assert.Null(await db.SortedSetScoreAsync($"{tag}:deadlines", "k"));
        Assert.Equal(1 + "\"longer value\"".Length, (long)await db.StringGetAsync($"{tag}:bytes"));
        Assert.True(await store.DeleteAsync("k", this.TimeoutToken));
        Assert.Equal(0, (long)await db.StringGetAsync($"{tag}:bytes"));
    }
}
