using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Redis;

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
    public async Task AKeyWithADeadline_IsReadByTheFunction_WhichJudgesItByRedissClock()
    {
        using var engine = await RedisEngine.ConnectAsync(NewRedisStore(), new SharedMemoryOptions { MaxBytes = null }, NullLogger.Instance, this.TimeoutToken);
        long version = await engine.SetAsync("t", "1"u8.ToArray(), TimeSpan.FromMinutes(5), 0, null, this.TimeoutToken);
        var calls = SentCalls.Record(engine);

        var read = await engine.GetAsync("t", this.TimeoutToken);

        Assert.Equal(version, read?.Version);
        Assert.Equal([RedisEngine.ReadCommands, RedisScripts.Get], calls.Made);
    }

    [Fact]
    public async Task PlainReads_WhileAnotherMasterRewritesTheKey_EachReturnAValueWithTheVersionItWasWrittenAt()
    {
        var where = NewRedisStore();
        var options = new SharedMemoryOptions { MaxBytes = null };
        using var writer = await RedisEngine.ConnectAsync(where, options, NullLogger.Instance, this.TimeoutToken);
        using var reader = await RedisEngine.ConnectAsync(where, options, NullLogger.Instance, this.TimeoutToken);
        var written = new ConcurrentDictionary<long, string>();
        long first = await writer.SetAsync("k", "\"0\""u8.ToArray(), null, 0, null, this.TimeoutToken);
        written[first] = "\"0\"";

        // The highest version recorded: the writer is the store's only one, so a version below it that is not recorded
        // was never written.
        long[] highest = [first];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(this.TimeoutToken);

        var writing = Task.Run(async () =>
        {
            for (int i = 1; !stop.IsCancellationRequested; i++)
            {
                // Values of different lengths, so that a value read beside another version's entry would show.
                string value = $"\"{new string('x', i % 7)}{i}\"";
                long version = await writer.SetAsync("k", Encoding.UTF8.GetBytes(value), null, 0, null, this.TimeoutToken);
                written[version] = value;
                Volatile.Write(ref highest[0], version);
            }
        });

        var seen = new HashSet<long>();
        try
        {
            for (int i = 0; i < 2_000; i++)
            {
                var read = await reader.GetAsync("k", this.TimeoutToken) ?? throw new InvalidOperationException("The key is absent.");
                seen.Add(read.Version);

                // The set's answer may come after the read: wait for it to be recorded (before the highest is).
                while (!written.ContainsKey(read.Version) && Volatile.Read(ref highest[0]) < read.Version && !writing.IsCompleted)
                {
                    await Task.Yield();
                }

                written.TryGetValue(read.Version, out string? expected);
                Assert.Equal(expected, Encoding.UTF8.GetString(read.Value));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await writing;
        }

        // The reads saw the key change while they ran.
        Assert.True(seen.Count > 10, $"{seen.Count} versions seen");
    }
}
