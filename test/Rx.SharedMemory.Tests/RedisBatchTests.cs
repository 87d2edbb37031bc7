using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Redis;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A worker's batch against the Redis engine: one call of the library's batch function, whose calls run in order,
/// each with its own outcome, and whose changes the master hands out from the answer, without its reader.
/// </summary>
public sealed class RedisBatchTests : TestBase
{
    [Fact]
    public async Task AWorkersBatch_IsOneCallToRedis_ItsCallsRunInOrder_EachWithItsOutcome_ItsChangesHandedOutWithoutTheReader()
    {
        var options = new SharedMemoryOptions();
        using var engine = await RedisEngine.ConnectAsync(NewRedisStore(), options, NullLogger.Instance, this.TimeoutToken);
        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var connection = GreetedConnection(engine, outbox, options);
        await engine.SetAsync("before", "0"u8.ToArray(), null, 0, null, this.TimeoutToken);

        // The reader is held before its next read: a write's wait for its change can end only through the batch's answer.
        using (await HeldReader.HoldAsync(engine.Feed, this.TimeoutToken))
        {
            var sent = SentCalls.Record(engine);
            using var calls = JsonDocument.Parse("""
                [["set","a",1],["increment","a",2],["set","s","text"],["increment","s",1],["get","a"],
                 ["compareAndSet","b",0,5],["compareAndSet","b",0,6],["delete","a"],["get","a"]]
                """);

            var answer = await connection.BatchAsync(new BatchRequest(calls.RootElement)).AsTask().WaitAsync(this.TimeoutToken);

            Assert.Equal([RedisScripts.Batch], sent.Made);
            using var results = JsonDocument.Parse(answer.Utf8);
            var outcomes = results.RootElement.EnumerateArray().ToArray();
            Assert.Equal(9, outcomes.Length);
            long first = outcomes[0].GetProperty("result").GetInt64();
            Assert.Equal((3, first + 1), (outcomes[1].GetProperty("result").GetProperty("value").GetInt64(), outcomes[1].GetProperty("result").GetProperty("version").GetInt64()));
            Assert.Equal(first + 2, outcomes[2].GetProperty("result").GetInt64());
            Assert.Contains("not an integer", outcomes[3].GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Equal((3, first + 1), (outcomes[4].GetProperty("result").GetProperty("value").GetInt64(), outcomes[4].GetProperty("result").GetProperty("version").GetInt64()));
            Assert.Equal((true, first + 3), (outcomes[5].GetProperty("result").GetProperty("succeeded").GetBoolean(), outcomes[5].GetProperty("result").GetProperty("version").GetInt64()));
            Assert.Equal((false, first + 3), (outcomes[6].GetProperty("result").GetProperty("succeeded").GetBoolean(), outcomes[6].GetProperty("result").GetProperty("version").GetInt64()));
            Assert.Equal(first + 4, outcomes[7].GetProperty("result").GetInt64());
            Assert.Equal(JsonValueKind.Null, outcomes[8].GetProperty("result").ValueKind);

            // The batch's five changes were handed out from its answer, the reader still held.
            Assert.Equal(first + 4, engine.Feed.Position);
            Assert.Equal(first + 4, engine.Version);
        }
    }

    [Fact]
    public async Task ABatchOfMoreWritesThanTheLogHolds_KeepsTheCountersTrue_TrimsTheLog_AndStillHandsOutItsOwnChanges()
    {
        // The counter, the log's bytes and its trimming are written once, at the batch's end.
        var where = NewRedisStore();
        using var engine = await RedisEngine.ConnectAsync(where, new SharedMemoryOptions { ChangeLogCapacity = 8 }, NullLogger.Instance, this.TimeoutToken);
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.Configuration);
        var db = redis.GetDatabase();
        string tag = $"{{{where.StoreName}}}";
        long before = await engine.SetAsync("k", "0"u8.ToArray(), null, 0, null, this.TimeoutToken);
        using (await HeldReader.HoldAsync(engine.Feed, this.TimeoutToken))
        {
            Task<long>[] writes;
            using (engine.BeginBatch())
            {
                writes = [.. Enumerable.Range(1, 20).Select(i => engine.SetAsync($"k{i % 3}", System.Text.Encoding.UTF8.GetBytes($"{i}"), null, 0, null, this.TimeoutToken).AsTask())];
            }

            var versions = await Task.WhenAll(writes).WaitAsync(this.TimeoutToken);
            Assert.Equal(Enumerable.Range(1, 20).Select(i => before + i), versions);
            Assert.Equal(before + 20, engine.Version);
            Assert.Equal(before + 20, engine.Feed.Position);
            var entries = await db.StreamRangeAsync($"{tag}:log");
            Assert.Equal(Enumerable.Range(13, 8).Select(i => $"{before + i}-0"), entries.Select(e => (string?)e.Id));
            long bytes = entries.Sum(e => 32L + e.Values.Where(v => v.Name == "k" || v.Name == "v").Sum(v => (long)((byte[])v.Value!).Length));
            Assert.Equal(bytes, (long)await db.StringGetAsync($"{tag}:logbytes"));
            Assert.Equal("20"u8.ToArray(), (await engine.GetAsync("k2", this.TimeoutToken))!.Value.Value);
        }
    }

    [Theory]
    [InlineData(3, null)]
    [InlineData(null, 33L)]
    public async Task ABatchThatEvicts_EvictsWhatTheSameCallsAloneWould_AndLeavesTheSameBytesAndUses(int? maxEntries, long? maxBytes)
    {
        // A batch keeps the store's bytes and its use counter as it goes and writes them once, at its end: each eviction
        // in it must still see the uses and bytes of the calls before it. Keys of one byte, values of ten: 33 bytes hold three.
        var options = new SharedMemoryOptions { MaxEntries = maxEntries, MaxBytes = maxBytes };
        var batched = NewRedisStore();
        var alone = NewRedisStore();
        using var inBatch = await RedisEngine.ConnectAsync(batched, options, NullLogger.Instance, this.TimeoutToken);
        using var oneByOne = await RedisEngine.ConnectAsync(alone, options, NullLogger.Instance, this.TimeoutToken);
        byte[] value = "\"abcdefgh\""u8.ToArray();
        foreach (var engine in (RedisEngine[])[inBatch, oneByOne])
        {
            foreach (var key in (string[])["a", "b", "c"])
            {
                await engine.SetAsync(key, value, null, 0, null, this.TimeoutToken);
            }
        }

        // Least recently used first: b goes for d, a for e, d for a again; c's deletion makes room for f; a goes for g.
        (char Call, string Key)[] calls = [('g', "a"), ('s', "d"), ('g', "c"), ('s', "e"), ('s', "a"), ('g', "d"), ('d', "c"), ('s', "f"), ('g', "e"), ('s', "g")];
        async Task RunAsync(RedisEngine engine, (char Call, string Key) call)
        {
            switch (call.Call)
            {
                case 's':
                    await engine.SetAsync(call.Key, value, null, 0, null, this.TimeoutToken);
                    break;
                case 'd':
                    await engine.DeleteAsync(call.Key, null, this.TimeoutToken);
                    break;
                default:
                    await engine.GetAsync(call.Key, this.TimeoutToken);
                    break;
            }
        }

        var sent = SentCalls.Record(inBatch);
        Task[] running;
        using (inBatch.BeginBatch())
        {
            running = [.. calls.Select(call => RunAsync(inBatch, call))];
        }

        await Task.WhenAll(running).WaitAsync(this.TimeoutToken);
        Assert.Equal([RedisScripts.Batch], sent.Made);
        foreach (var call in calls)
        {
            await RunAsync(oneByOne, call);
        }

        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.Configuration);
        var db = redis.GetDatabase();
        async Task<(string Keys, long Bytes, long Uses, string Order)> StateOfAsync(RedisStoreOptions where)
        {
            string tag = $"{{{where.StoreName}}}";
            var keys = (await db.HashKeysAsync($"{tag}:values")).Select(k => (string)k!).Order(StringComparer.Ordinal);
            var order = (await db.SortedSetRangeByRankAsync($"{tag}:lru")).Select(k => (string)k!);
            return (string.Join(",", keys), (long)await db.StringGetAsync($"{tag}:bytes"), (long)await db.StringGetAsync($"{tag}:uses"), string.Join(",", order));
        }

        var expected = await StateOfAsync(alone);
        Assert.Equal(("e,f,g", 33L, 11L, "f,e,g"), expected);
        Assert.Equal(expected, await StateOfAsync(batched));
    }

    [Fact]
    public async Task ACallThatFailsInRedis_FailsAlone_AndTheCallsAroundItInItsBatchCommit()
    {
        using var engine = await RedisEngine.ConnectAsync(NewRedisStore(), new SharedMemoryOptions(), NullLogger.Instance, this.TimeoutToken);
        var sent = SentCalls.Record(engine);
        Task<long> before, after;
        Task<StackExchange.Redis.RedisResult> failing;
        using (engine.BeginBatch())
        {
            before = engine.SetAsync("x", "1"u8.ToArray(), null, 0, null, this.TimeoutToken).AsTask();

            // A function the library does not have: a Lua error in the batch, as a fault in one of its functions would be.
            failing = engine.RunAsync(RedisScripts.Get + "Missing", this.TimeoutToken, "x");
            after = engine.SetAsync("y", "2"u8.ToArray(), null, 0, null, this.TimeoutToken).AsTask();
        }

        var failure = await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => failing.WaitAsync(this.TimeoutToken));
        Assert.Contains("did not complete", failure.Message, StringComparison.Ordinal);
        Assert.Equal(await before.WaitAsync(this.TimeoutToken) + 1, await after.WaitAsync(this.TimeoutToken));
        Assert.Equal([RedisScripts.Batch], sent.Made);
        Assert.Equal("2"u8.ToArray(), (await engine.GetAsync("y", this.TimeoutToken))!.Value.Value);
    }

    [Fact]
    public async Task ABatchOfOneCall_IsSentAsThatCallAlone()
    {
        using var engine = await RedisEngine.ConnectAsync(NewRedisStore(), new SharedMemoryOptions(), NullLogger.Instance, this.TimeoutToken);
        var sent = SentCalls.Record(engine);
        ValueTask<long> write;
        using (engine.BeginBatch())
        {
            write = engine.SetAsync("x", "1"u8.ToArray(), null, 0, null, this.TimeoutToken);
        }

        Assert.Equal(engine.Version, await write.AsTask().WaitAsync(this.TimeoutToken));
        Assert.Equal([RedisScripts.Set], sent.Made);
    }

    [Fact]
    public async Task WhenRedisCannotBeReached_EveryCallOfABatchFails_NoneHangs()
    {
        using var server = RedisServer.Start();
        var where = new RedisStoreOptions { Configuration = server.Configuration + ",asyncTimeout=2000", StoreName = $"test-{Guid.NewGuid():N}" };
        using var engine = await RedisEngine.ConnectAsync(where, new SharedMemoryOptions(), NullLogger.Instance, this.TimeoutToken);
        server.Kill();
        Task<long>[] writes;
        using (engine.BeginBatch())
        {
            writes = [.. Enumerable.Range(0, 3).Select(i => engine.SetAsync($"k{i}", "1"u8.ToArray(), null, 0, null, this.TimeoutToken).AsTask())];
        }

        foreach (var write in writes)
        {
            await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => write.WaitAsync(this.TimeoutToken));
        }
    }

    [Fact]
    public async Task ABatchOfMoreCallsThanTheMasterSendsAtOnce_RunsTheFirstInOrder_AndAnswersTheTailNotRun()
    {
        const int Calls = 10_000;
        var options = new SharedMemoryOptions();
        using var engine = await RedisEngine.ConnectAsync(NewRedisStore(), options, NullLogger.Instance, this.TimeoutToken);
        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var connection = GreetedConnection(engine, outbox, options);
        var json = new System.Text.StringBuilder("[");
        for (int i = 0; i < Calls; i++)
        {
            // A set every 1,500 calls, gets between: each get reads the set before it.
            json.Append(i == 0 ? string.Empty : ",").Append(i % 1_500 == 0 ? $"[\"set\",\"k\",{i}]" : "[\"get\",\"k\"]");
        }

        using var calls = JsonDocument.Parse(json.Append(']').ToString());
        var sent = SentCalls.Record(engine);

        var answer = await connection.BatchAsync(new BatchRequest(calls.RootElement)).AsTask().WaitAsync(this.TimeoutToken);

        using var results = JsonDocument.Parse(answer.Utf8);
        var outcomes = results.RootElement.EnumerateArray().ToArray();
        Assert.Equal(Calls, outcomes.Length);
        for (int i = 0; i < ProtocolLimits.MaxCallsSentAtOnce; i++)
        {
            long expected = i / 1_500 * 1_500;
            long read = i % 1_500 == 0 ? expected : outcomes[i].GetProperty("result").GetProperty("value").GetInt64();
            Assert.True(read == expected, $"call {i} read {read}, not {expected}");
        }

        // The tail was never sent: its set did not run.
        Assert.All(outcomes[ProtocolLimits.MaxCallsSentAtOnce..], outcome => Assert.True(BatchAnswer.IsNotRun(outcome)));
        var stored = await engine.GetAsync("k", this.TimeoutToken);
        Assert.Equal($"{ProtocolLimits.MaxCallsSentAtOnce / 1_500 * 1_500}", System.Text.Encoding.UTF8.GetString(stored!.Value.Value));
        Assert.Equal(1, sent.Of(RedisScripts.Batch));
    }

    [Fact]
    public async Task ABatchWhoseGetsReadTheAnswersBudget_RunsNoFurtherCall_SoTheCallsNotRunAreItsTail()
    {
        // Gets of 1 MiB values: four fill the answer's 4 MiB. Without the bound in Redis, the increments after the fifth
        // get would run while that get was answered "not run", and a worker sending the tail again would apply them twice.
        // The last call, refused before it reaches Redis (an empty key), is in the tail too: it had no effect either.
        var options = new SharedMemoryOptions { MaxValueBytes = 2 * 1024 * 1024 };
        using var engine = await RedisEngine.ConnectAsync(NewRedisStore(), options, NullLogger.Instance, this.TimeoutToken);
        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var connection = GreetedConnection(engine, outbox, options);
        await engine.SetAsync("big", System.Text.Encoding.UTF8.GetBytes($"\"{new string('x', 1024 * 1024)}\""), null, 0, null, this.TimeoutToken);
        using var calls = JsonDocument.Parse("""
            [["get","big"],["get","big"],["get","big"],["get","big"],["get","big"],["get","big"],
             ["increment","count",1],["get","big"],["increment","count",1],["set","",1]]
            """);

        var answer = await connection.BatchAsync(new BatchRequest(calls.RootElement)).AsTask().WaitAsync(this.TimeoutToken);

        using var results = JsonDocument.Parse(answer.Utf8);
        var outcomes = results.RootElement.EnumerateArray().ToArray();
        Assert.All(outcomes[..4], outcome => Assert.Equal(1024 * 1024, outcome.GetProperty("result").GetProperty("value").GetString()!.Length));
        Assert.All(outcomes[4..], outcome => Assert.True(BatchAnswer.IsNotRun(outcome), outcome.ToString()));
        Assert.Null(await engine.GetAsync("count", this.TimeoutToken));
    }

    [Fact]
    public async Task ACommandOfABatchThatFails_FailsEachOfItsCalls_WithAnExceptionOfItsOwn()
    {
        using var engine = await RedisEngine.ConnectAsync(NewRedisStore(), new SharedMemoryOptions(), NullLogger.Instance, this.TimeoutToken);
        engine.Sending = function =>
        {
            if (function == RedisScripts.Batch)
            {
                throw RedisFailure.ConnectionLost("Redis is gone (test).");
            }
        };

        Task<long>[] writes;
        using (engine.BeginBatch())
        {
            writes = [.. Enumerable.Range(0, 1000).Select(i => engine.SetAsync($"k{i}", "1"u8.ToArray(), null, 0, null, this.TimeoutToken).AsTask())];
        }

        var failures = new List<Exception>();
        foreach (var write in writes)
        {
            var failure = await Assert.ThrowsAsync<SharedMemoryUnavailableException>(() => write.WaitAsync(this.TimeoutToken));
            var inner = Assert.IsType<StackExchange.Redis.RedisConnectionException>(failure.InnerException);
            Assert.Contains("Redis is gone (test).", inner.Message, StringComparison.Ordinal);
            failures.Add(inner);
        }

        // Each its own: one shared by all would carry a stack for each call that rethrew it.
        Assert.Equal(writes.Length, failures.Distinct(ReferenceEqualityComparer.Instance).Count());
        Assert.All(failures, f => Assert.True((f.StackTrace?.Length ?? 0) < 20_000, $"a stack of {f.StackTrace?.Length} characters"));
    }
}
