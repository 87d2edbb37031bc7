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
    /// <summary>
    /// The engine keeps times to live, ephemeral keys and locks itself: Redis's own expiry, lazy and publishing no
    /// versioned change, is set on none of the store's keys (README, Several machines).
    /// </summary>
    [Fact]
    public async Task NoKeyOfTheStore_CarriesARedisExpiry_WhateverTheStoreHolds()
    {
        var where = NewRedisStore();
        await using var master = await RedisSharedMemory.StartMasterAsync(where, cancellationToken: this.TimeoutToken);
        var store = master.Store;
        await store.SetAsync("ttl", 1, new SetOptions { TimeToLive = TimeSpan.FromMinutes(5) }, this.TimeoutToken);
        await store.SetAsync("plain", 2, this.TimeoutToken);
        await store.IncrementAsync("n", 1, this.TimeoutToken);
        await using var held = await store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.Configuration);
        var db = redis.GetDatabase();

        var keys = new List<RedisKey>();
        await foreach (var key in redis.GetServers().Single().KeysAsync(pattern: $"{{{where.StoreName}}}*"))
        {
            keys.Add(key);
        }

        Assert.True(keys.Count >= 4, string.Join(", ", keys));
        foreach (var key in keys)
        {
            Assert.True(await db.KeyTimeToLiveAsync(key) is null, $"{key} expires");
        }
    }

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

    [Theory]
    [InlineData(3_000, 3)]
    [InlineData(2_048, 2)] // the second page ends at the store's version: no third call
    [InlineData(1_024, 1)]
    public async Task AResumeFromFarBack_ReadsTheLogAPageAtATime_AndMissesNothing(int changes, int pages)
    {
        // Changes after the resume's version, half of them to the key observed, 1,024 log entries a page.
        await using var store = await RedisSharedMemory.ConnectStoreAsync(NewRedisStore(), cancellationToken: this.TimeoutToken);
        long from = await store.SetAsync("a", -1, this.TimeoutToken);
        var expected = new List<(long Version, int Value)>();
        for (int i = 0; i < changes; i++)
        {
            long version = await store.SetAsync(i % 2 == 0 ? "a" : "b", i, this.TimeoutToken);
            if (i % 2 == 0)
            {
                expected.Add((version, i));
            }
        }

        var calls = SentCalls.Record(store.Engine);
        var resumed = await store.Observe("a", fromVersion: from).Take(expected.Count).Select(c => (c.Version, c.Value.GetInt32())).ToList().ToTask(this.TimeoutToken);

        Assert.Equal(expected, resumed);
        Assert.Equal(pages, calls.Of(RedisScripts.Replay));
    }

    [Fact]
    public async Task APrefixOfManyKeys_IsReadAPageAtATime_AndItsStateIsTheStoresContent()
    {
        // 2,500 keys under the prefix: three pages of 1,024 keys; keys around it stay out.
        await using var store = await RedisSharedMemory.ConnectStoreAsync(NewRedisStore(), cancellationToken: this.TimeoutToken);
        var engine = store.Engine;
        var expected = await this.WriteKeysAsync(engine, 2_500);
        long last = 0;
        foreach (var outside in new[] { "o", "p", "p.", "q/0" })
        {
            last = await engine.SetAsync(outside, "0"u8.ToArray(), null, 0, null, this.TimeoutToken);
        }

        var calls = SentCalls.Record(engine);
        var changes = store.ObservePrefix("p/").Replay();
        using var recording = changes.Connect();
        var (at, state) = await this.StateAsync(changes);

        Assert.Equal(Sorted(expected), Sorted(state));
        Assert.Equal(last, at);
        Assert.Equal((3, 0), (calls.Of(RedisScripts.SnapshotPrefix), calls.Of(RedisScripts.Replay)));
    }

    [Fact]
    public async Task WritesBetweenThePagesOfAPrefixsState_AreInTheState_AtItsVersion_AndTheLiveChangesFollowWithNoGapNorDuplicate()
    {
        await using var store = await RedisSharedMemory.ConnectStoreAsync(NewRedisStore(), cancellationToken: this.TimeoutToken);
        var engine = store.Engine;
        var expected = await this.WriteKeysAsync(engine, 2_500);
        long last = 0;
        async Task SetAsync(string key, int value) => expected[key] = (value, last = await engine.SetAsync(key, Json(value), null, 0, null, this.TimeoutToken));
        async Task DeleteAsync(string key)
        {
            last = await engine.DeleteAsync(key, null, this.TimeoutToken);
            expected.Remove(key);
        }

        // After the first page (p/0000 to p/1023) and after the second (to p/2047), keys already read, keys not read
        // yet and new keys on both sides of the cursor are written and deleted.
        int pages = 0;
        engine.Feed.BetweenPrefixPages = async () =>
        {
            if (++pages == 1)
            {
                await SetAsync(Key(5), 10_005);
                await DeleteAsync(Key(10));
                await DeleteAsync(Key(15));
                await SetAsync(Key(15), 10_015);
                await SetAsync(Key(2_000), 12_000);
                await DeleteAsync(Key(2_001));
                await SetAsync(Key(0) + "a", 1);
                await SetAsync(Key(1) + "a", 2);
                await DeleteAsync(Key(1) + "a");
                await SetAsync("p/9999", 3);
                last = await engine.SetAsync("q/x", "0"u8.ToArray(), null, 0, null, this.TimeoutToken);
            }
            else
            {
                await SetAsync(Key(20), 10_020);
                await SetAsync(Key(5), 20_005);
                await DeleteAsync(Key(2_400));
                await SetAsync(Key(2_401), 12_401);
            }
        };
        var calls = SentCalls.Record(engine);
        var changes = store.ObservePrefix("p/").Replay();
        using var recording = changes.Connect();
        var (at, state) = await this.StateAsync(changes);
        engine.Feed.BetweenPrefixPages = null;

        Assert.Equal(2, pages);
        Assert.Equal(Sorted(expected), Sorted(state));
        Assert.Equal(last, at);
        Assert.Equal(3, calls.Of(RedisScripts.SnapshotPrefix));
        Assert.True(calls.Of(RedisScripts.Replay) >= 1, "the pages were brought to one version by the log");

        // Committed after the state: each follows it once, in order, and nothing committed before it does.
        var live = new List<(string, KeyChangeKind, long)>();
        foreach (var key in new[] { Key(30), Key(5), "p/live" })
        {
            live.Add((key, KeyChangeKind.Set, await engine.SetAsync(key, "1"u8.ToArray(), null, 0, null, this.TimeoutToken)));
        }

        await engine.SetAsync("q/y", "1"u8.ToArray(), null, 0, null, this.TimeoutToken);
        live.Add((Key(31), KeyChangeKind.Deleted, await engine.DeleteAsync(Key(31), null, this.TimeoutToken)));
        var followed = await changes.Skip(1 + state.Count).Take(live.Count).Select(c => (c.Key, c.Kind, c.Version)).ToList().ToTask(this.TimeoutToken);
        Assert.Equal(live, followed);
    }

    [Fact]
    public async Task WhenTheLogIsTrimmedPastAPrefixsFirstPage_TheStateIsReadAgainInOneCall_AndIsExact()
    {
        await using var store = await RedisSharedMemory.ConnectStoreAsync(NewRedisStore(), new SharedMemoryOptions { ChangeLogCapacity = 16 }, cancellationToken: this.TimeoutToken);
        var engine = store.Engine;
        var expected = await this.WriteKeysAsync(engine, 2_500);

        // The reader held: a write hands its own change out from its answer, so that the reader never finds the log
        // trimmed past it (which would read the state again for a reason of its own).
        using (await HeldReader.HoldAsync(engine.Feed, this.TimeoutToken))
        {
            // After the first page, 110 changes: six times what the log keeps, to keys read and not read yet.
            long last = 0;
            int pages = 0;
            engine.Feed.BetweenPrefixPages = async () =>
            {
                if (++pages > 1)
                {
                    return;
                }

                Task<long>[] sets, deletions;
                using (engine.BeginBatch())
                {
                    sets = [.. Enumerable.Range(0, 100).Select(i => engine.SetAsync(Key(i * 20), Json(20_000 + i), null, 0, null, this.TimeoutToken).AsTask())];
                    deletions = [.. Enumerable.Range(0, 10).Select(i => engine.DeleteAsync(Key(7 + (i * 200)), null, this.TimeoutToken).AsTask())];
                }

                var versions = await Task.WhenAll(sets).WaitAsync(this.TimeoutToken);
                last = (await Task.WhenAll(deletions).WaitAsync(this.TimeoutToken))[^1];
                for (int i = 0; i < 100; i++)
                {
                    expected[Key(i * 20)] = (20_000 + i, versions[i]);
                }

                for (int i = 0; i < 10; i++)
                {
                    expected.Remove(Key(7 + (i * 200)));
                }
            };
            var calls = SentCalls.Record(engine);
            var changes = store.ObservePrefix("p/").Replay();
            using var recording = changes.Connect();
            var (at, state) = await this.StateAsync(changes);
            engine.Feed.BetweenPrefixPages = null;

            Assert.Equal(2, pages);
            Assert.Equal(Sorted(expected), Sorted(state));
            Assert.Equal(last, at);

            // Three pages, the log found short, and the whole prefix in one more call.
            Assert.Equal((4, 1), (calls.Of(RedisScripts.SnapshotPrefix), calls.Of(RedisScripts.Replay)));
        }
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
    public async Task AKeyWrittenWithoutABound_IsEvictedFirst_WhereverItSortsAmongTheStoresKeys()
    {
        var where = NewRedisStore();
        await using (var unbounded = await RedisSharedMemory.ConnectStoreAsync(where, new SharedMemoryOptions { MaxBytes = null }, cancellationToken: this.TimeoutToken))
        {
            await unbounded.SetAsync("zz", "no use kept", this.TimeoutToken);
        }

        var bounded = new SharedMemoryOptions { MaxEntries = 20, EvictionPolicy = EvictionPolicy.LeastRecentlyUsed };
        await using var store = await RedisSharedMemory.ConnectStoreAsync(where, bounded, cancellationToken: this.TimeoutToken);
        var evictions = store.ObservePrefix(string.Empty).Where(c => c.Kind == KeyChangeKind.Evicted).Select(c => c.Key).Replay();
        using var recording = evictions.Connect();
        for (int i = 0; i < 20; i++)
        {
            // Keys that sort before it, more of them than one look at the first keys would take in.
            await store.SetAsync($"a{i:D2}", i, this.TimeoutToken);
        }

        Assert.Equal("zz", await evictions.FirstAsync().ToTask(this.TimeoutToken));
        Assert.Equal(0, await store.GetAsync<int>("a00", this.TimeoutToken));
    }

    [Fact]
    public async Task AMasterRuns_WithOnlyTheAclPermissionsTheReadmeLists()
    {
        var where = NewRedisStore();
        string user = $"rxsm-{where.StoreName}";
        string[] commands =
        [
            "function|load", "fcall", "hget", "get", "hlen", "xrange", "time", "subscribe",
            "decrby", "del", "hdel", "hexists", "hgetall", "hset", "hstrlen", "incr", "incrby", "llen", "lpop", "lrange",
            "lrem", "publish", "rpush", "sadd", "set", "smembers", "srem", "xadd", "xlen", "xtrim", "zadd", "zcard",
            "zrange", "zrangebylex", "zrangebyscore", "zrem", "zscore", "info",
        ];
        await using var admin = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.Configuration + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        object[] rules = ["SETUSER", user, "reset", "on", ">secret", $"~{{{where.StoreName}}}*", $"&{{{where.StoreName}}}:*", "+@connection", .. commands.Select(c => $"+{c}")];
        await server.ExecuteAsync("ACL", rules);
        try
        {
            var limited = new RedisStoreOptions { Configuration = $"{RedisServer.Shared.Configuration},user={user},password=secret", StoreName = where.StoreName };
            await using var master = await RedisSharedMemory.StartMasterAsync(limited, cancellationToken: this.TimeoutToken);
            var changes = master.Store.Observe("k").Replay();
            using var recording = changes.Connect();
            await changes.FirstAsync().ToTask(this.TimeoutToken);
            long version = await master.Store.SetAsync("k", 1, this.TimeoutToken);
            Assert.Equal(1, await master.Store.GetAsync<int>("k", this.TimeoutToken));
            await using (await master.Store.AcquireLockAsync("l", TimeSpan.FromSeconds(5), this.TimeoutToken))
            {
                Assert.Equal(2, (await master.Store.IncrementAsync("n", 2, this.TimeoutToken)).Value);
            }

            Assert.Equal(version, (await changes.FirstAsync(c => c.Kind == KeyChangeKind.Set).ToTask(this.TimeoutToken)).Version);
        }
        finally
        {
            await server.ExecuteAsync("ACL", "DELUSER", user);
        }
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

    private static string Key(int i) => $"p/{i:D4}";

    private static byte[] Json(int value) => System.Text.Encoding.UTF8.GetBytes(value.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static List<(string Key, int Value, long Version)> Sorted(Dictionary<string, (int Value, long Version)> keys) =>
        [.. keys.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => (k.Key, k.Value.Value, k.Value.Version))];

    /// <summary>Writes p/0000 to p/(count - 1), the value of each its number, in one batch.</summary>
    private async Task<Dictionary<string, (int Value, long Version)>> WriteKeysAsync(RedisEngine engine, int count)
    {
        Task<long>[] writes;
        using (engine.BeginBatch())
        {
            writes = [.. Enumerable.Range(0, count).Select(i => engine.SetAsync(Key(i), Json(i), null, 0, null, this.TimeoutToken).AsTask())];
        }

        var versions = await Task.WhenAll(writes).WaitAsync(this.TimeoutToken);
        return Enumerable.Range(0, count).ToDictionary(Key, i => (i, versions[i]), StringComparer.Ordinal);
    }

    /// <summary>A prefix's starting state: its version, and each key's value and version, the Resets in version order.</summary>
    private async Task<(long At, Dictionary<string, (int Value, long Version)> State)> StateAsync(IObservable<KeyChange> changes)
    {
        var reset = await changes.FirstAsync().ToTask(this.TimeoutToken);
        Assert.Equal(KeyChangeKind.PrefixReset, reset.Kind);
        var resets = await changes.Skip(1).Take(reset.StateCount).ToList().ToTask(this.TimeoutToken);
        Assert.All(resets, c => Assert.Equal(KeyChangeKind.Reset, c.Kind));
        Assert.Equal(resets.Select(c => c.Version).Order(), resets.Select(c => c.Version));
        Assert.All(resets, c => Assert.True(c.Version <= reset.Version));
        return (reset.Version, resets.ToDictionary(c => c.Key, c => (c.GetValue<int>(), c.Version), StringComparer.Ordinal));
    }
}
