using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Redis;
using Rx.SharedMemory.Store;
using StackExchange.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A get of the Redis engine where a read is not a use: three plain commands in one round trip, not a function call,
/// and the function where the plain read cannot answer alone.
/// </summary>
public sealed class RedisReadTests : TestBase
{
    public static TheoryData<string, int?, long?, EvictionPolicy, string> Bounds => new()
    {
        { "no bound", null, null, EvictionPolicy.LeastRecentlyUsed, RedisEngine.ReadCommands },
        { "a bound that refuses", 1_000, 1L << 20, EvictionPolicy.NoEviction, RedisEngine.ReadCommands },
        { "a bound that evicts (the default's)", null, 1L << 30, EvictionPolicy.LeastRecentlyUsed, RedisScripts.Get },
        { "a count that evicts", 1_000, null, EvictionPolicy.LeastRecentlyUsed, RedisScripts.Get },
    };

    [Theory]
    [MemberData(nameof(Bounds))]
    public async Task AGet_IsPlainCommands_UnlessAReadIsAUse(string bounds, int? maxEntries, long? maxBytes, EvictionPolicy policy, string sent)
    {
        var options = new SharedMemoryOptions { MaxEntries = maxEntries, MaxBytes = maxBytes, EvictionPolicy = policy };
        using var engine = await RedisEngine.ConnectAsync(NewRedisStore(), options, NullLogger.Instance, this.TimeoutToken);
        long version = await engine.SetAsync("a", "[1,2]"u8.ToArray(), null, 0, null, this.TimeoutToken);
        await engine.SetAsync("b", "3"u8.ToArray(), null, 0, null, this.TimeoutToken);
        var calls = SentCalls.Record(engine);

        var read = await engine.GetAsync("a", this.TimeoutToken);
        var absent = await engine.GetAsync("missing", this.TimeoutToken);

        Assert.True(read.HasValue, bounds);
        Assert.Equal(("[1,2]", version), (Encoding.UTF8.GetString(read.Value.Value), read.Value.Version));
        Assert.Null(absent);
        Assert.Equal([sent, sent], calls.Made);
    }

    [Fact]
    public async Task AKeyWithADeadline_IsReadPlainBeforeIt_AndByTheFunctionPastIt_WhichExpiresIt()
    {
        var where = NewRedisStore();
        using var engine = await RedisEngine.ConnectAsync(where, new SharedMemoryOptions { MaxBytes = null }, NullLogger.Instance, this.TimeoutToken);
        long version = await engine.SetAsync("t", "1"u8.ToArray(), TimeSpan.FromMinutes(5), 0, null, this.TimeoutToken);

        // A key past its deadline that the expiry pass has not removed yet: planted with a deadline of a second ago,
        // outside the set of deadlines that pass reads.
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.Configuration);
        var db = redis.GetDatabase();
        long past = (long)((await redis.GetServer(RedisServer.Shared.Configuration).TimeAsync()) - DateTime.UnixEpoch).TotalMilliseconds - 1_000;
        await db.HashSetAsync($"{{{where.StoreName}}}:values", "due", "2");
        await db.HashSetAsync($"{{{where.StoreName}}}:meta", "due", $"{version + 100},{past},{past},0,1");
        var calls = SentCalls.Record(engine);

        var read = await engine.GetAsync("t", this.TimeoutToken);
        var due = await engine.GetAsync("due", this.TimeoutToken);

        Assert.Equal(version, read?.Version);
        Assert.Null(due);
        Assert.False(await db.HashExistsAsync($"{{{where.StoreName}}}:meta", "due"));
        Assert.Equal([RedisEngine.ReadCommands, RedisEngine.ReadCommands, RedisScripts.Get], calls.Made);
    }

    [Fact]
    public async Task PlainReads_WhileAnotherMasterRewritesTheKey_AreEachAValueWithItsVersion_NeverOlderThanAWriteAcknowledgedBefore()
    {
        var where = NewRedisStore();
        var options = new SharedMemoryOptions { MaxBytes = null };
        using var writer = await RedisEngine.ConnectAsync(where, options, NullLogger.Instance, this.TimeoutToken);
        using var reader = await RedisEngine.ConnectAsync(where, options, NullLogger.Instance, this.TimeoutToken);

        // Each version's value, set once the writer's set returns it; the writer is the store's only one.
        var written = new ConcurrentDictionary<long, TaskCompletionSource<string>>();
        TaskCompletionSource<string> Written(long version) => written.GetOrAdd(version, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
        long first = await writer.SetAsync("k", "\"0\""u8.ToArray(), null, 0, null, this.TimeoutToken);
        Written(first).SetResult("\"0\"");

        // The highest version acknowledged, recorded after its value: a version below it with no value was never written.
        long[] highest = [first];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(this.TimeoutToken);
        var writing = Task.Run(async () =>
        {
            for (int i = 1; !stop.IsCancellationRequested; i++)
            {
                // Values of different lengths, so that a value read beside another version's entry would show.
                string value = $"\"{new string('x', i % 7)}{i}\"";
                long version = await writer.SetAsync("k", Encoding.UTF8.GetBytes(value), null, 0, null, this.TimeoutToken);
                Written(version).SetResult(value);
                Volatile.Write(ref highest[0], version);
            }
        });

        var calls = SentCalls.Record(reader);
        const int Reads = 2_000;
        var seen = new HashSet<long>();
        try
        {
            for (int i = 0; i < Reads; i++)
            {
                long acknowledged = Volatile.Read(ref highest[0]);
                var read = await reader.GetAsync("k", this.TimeoutToken) ?? throw new InvalidOperationException("The key is absent.");
                seen.Add(read.Version);
                Assert.True(read.Version >= acknowledged, $"Read version {read.Version}, older than {acknowledged}, acknowledged before the read.");

                // A version at or below the highest acknowledged has its value by now; a higher one gets it when its set returns.
                var value = Written(read.Version);
                long now = Volatile.Read(ref highest[0]);
                Assert.True(now < read.Version || value.Task.IsCompleted, $"Version {read.Version} was never written.");
                Assert.Equal(await value.Task.WaitAsync(this.TimeoutToken), Encoding.UTF8.GetString(read.Value));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await writing;
        }

        // Each read was first tried with plain commands, and the reads saw the key change while they ran.
        Assert.Equal(Reads, calls.Of(RedisEngine.ReadCommands));
        Assert.True(seen.Count > 10, $"{seen.Count} versions seen");
    }

    [Fact]
    public async Task AGetInAWorkersBatch_RunsInTheBatchsOrder_AfterTheSetBeforeIt()
    {
        // Without a bound, a get alone is plain commands, which would run before the batch's one call and miss its set.
        var options = new SharedMemoryOptions { MaxBytes = null };
        using var engine = await RedisEngine.ConnectAsync(NewRedisStore(), options, NullLogger.Instance, this.TimeoutToken);
        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var connection = GreetedConnection(engine, outbox, options);
        await engine.SetAsync("a", "0"u8.ToArray(), null, 0, null, this.TimeoutToken);
        var calls = SentCalls.Record(engine);
        using var batch = JsonDocument.Parse("""[["set","a",1],["get","a"]]""");

        var answer = await connection.BatchAsync(new BatchRequest(batch.RootElement)).AsTask().WaitAsync(this.TimeoutToken);

        using var results = JsonDocument.Parse(answer.Utf8);
        var outcomes = results.RootElement.EnumerateArray().ToArray();
        long set = outcomes[0].GetProperty("result").GetInt64();
        Assert.Equal((1, set), (outcomes[1].GetProperty("result").GetProperty("value").GetInt64(), outcomes[1].GetProperty("result").GetProperty("version").GetInt64()));
        Assert.Equal([RedisScripts.Batch], calls.Made);
    }

    [Fact]
    public async Task APlainGet_WhenRedisIsGone_FailsWithSharedMemoryUnavailableException()
    {
        using var server = RedisServer.Start();
        var where = new RedisStoreOptions { Configuration = server.Configuration + ",asyncTimeout=2000", StoreName = $"test-{Guid.NewGuid():N}" };
        using var engine = await RedisEngine.ConnectAsync(where, new SharedMemoryOptions { MaxBytes = null }, NullLogger.Instance, this.TimeoutToken);
        await engine.SetAsync("a", "1"u8.ToArray(), null, 0, null, this.TimeoutToken);
        var calls = SentCalls.Record(engine);
        server.Kill();

        var failure = await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => engine.GetAsync("a", this.TimeoutToken).AsTask().WaitAsync(this.TimeoutToken));

        Assert.Contains(where.StoreName, failure.Message, StringComparison.Ordinal);
        Assert.Equal([RedisEngine.ReadCommands], calls.Made);
    }
}
