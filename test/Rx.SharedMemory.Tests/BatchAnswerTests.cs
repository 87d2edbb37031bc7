using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>The master's side of a batch, called directly: an answer stops growing once it is full.</summary>
public sealed class BatchAnswerTests : TestBase
{
    [Fact]
    public async Task OnceTheAnswerIsFull_TheCallsLeftAreNotRun_AndSaySo()
    {
        using var engine = new MemoryEngine(Options);
        var (answer, outcomes) = await BatchOfBigGetsAsync(engine, engine);

        // 4 MiB is the budget: three values of 1.5 MB fill it, and nothing after them runs, not even the set.
        Assert.All(outcomes[3..], o => Assert.Equal(RpcErrorCodes.NotRun, o.GetProperty("error").GetProperty("code").GetInt32()));
        Assert.Null(engine.Store.Get("after"));
        Assert.InRange(answer.Utf8.Length, 3 * 1_500_000, (4 * 1024 * 1024) + 1_600_000);
    }

    [Fact]
    public async Task WithAnEngineThatAnswersLater_TheCallsNotRunAreStillTheTail_GetsBeforeAWriteThatRanAnsweredInFull()
    {
        // Sent to the engine together, the calls past the full answer have run. A get before the write that ran after
        // it is answered in full, since a worker sends every call from the first not run on again, and the write would
        // apply twice; only the get after the last write is answered "not run".
        var memory = new MemoryEngine(Options);
        using var engine = new DeferredEngine(memory);
        var (answer, outcomes) = await BatchOfBigGetsAsync(memory, engine);

        Assert.Equal(1_500_002, outcomes[3].GetProperty("result").GetProperty("value").GetRawText().Length);
        Assert.Equal(memory.Store.Get("after")!.Value.Version, outcomes[4].GetProperty("result").GetInt64());
        Assert.Equal(RpcErrorCodes.NotRun, outcomes[5].GetProperty("error").GetProperty("code").GetInt32());
        Assert.InRange(answer.Utf8.Length, 4 * 1_500_000, 5 * 1_600_000);
    }

    [Fact]
    public async Task ACallThatIsNotMethodAndArguments_FailsAlone_AndTheOthersRun()
    {
        // protocol.md: one call's failure does not stop the others. Not an array, no method, a number for a method, a
        // method that is not valid UTF-16: each is answered -32011, and the calls around them run.
        using var engine = new MemoryEngine(Options);
        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var connection = GreetedConnection(engine, outbox, Options);
        using var calls = JsonDocument.Parse("""[["set","before",1],"set",[],[5],["\ud800","k"],["set","after",2]]""");

        var answer = await connection.BatchAsync(new BatchRequest(calls.RootElement));

        using var results = JsonDocument.Parse(answer.Utf8);
        var outcomes = results.RootElement.EnumerateArray().ToArray();
        Assert.Equal(6, outcomes.Length);
        Assert.All(outcomes[1..5], o => Assert.Equal(RpcErrorCodes.InvalidArgument, o.GetProperty("error").GetProperty("code").GetInt32()));
        Assert.Equal(engine.Store.Get("before")!.Value.Version, outcomes[0].GetProperty("result").GetInt64());
        Assert.Equal(engine.Store.Get("after")!.Value.Version, outcomes[5].GetProperty("result").GetInt64());
    }

    [Fact]
    public async Task ACallWithMoreArgumentsThanItTakes_FailsAlone_AndDoesNothing()
    {
        // protocol.md: arguments of the wrong number are -32011 for that call only, as a request's are -32602. A
        // ["delete", key, expectedVersion] must not delete whatever the version.
        using var engine = new MemoryEngine(Options);
        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var connection = GreetedConnection(engine, outbox, Options);
        engine.Store.Set("k", "1"u8.ToArray());
        engine.Store.Set("n", "1"u8.ToArray());
        using var calls = JsonDocument.Parse("""
            [["get","k","x"],["delete","k",1],["set","s",1,null,null,null,null,"extra"],["increment","n",1,2],
             ["unlock","l",1,2],["compareAndSet","c",0,1,null,null,null,null,9],["set","s",2,null,null,null,null]]
            """);

        var answer = await connection.BatchAsync(new BatchRequest(calls.RootElement));

        using var results = JsonDocument.Parse(answer.Utf8);
        var outcomes = results.RootElement.EnumerateArray().ToArray();
        Assert.Equal(7, outcomes.Length);
        Assert.All(outcomes[..6], o => Assert.Equal(RpcErrorCodes.InvalidArgument, o.GetProperty("error").GetProperty("code").GetInt32()));
        Assert.Contains("takes at most 1", outcomes[1].GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("1"u8.ToArray(), engine.Store.Get("k")!.Value.Value);
        Assert.Equal("1"u8.ToArray(), engine.Store.Get("n")!.Value.Value);
        Assert.Null(engine.Store.Get("c"));

        // Every element a call may have, the region's two as null, is still taken.
        Assert.Equal("2"u8.ToArray(), engine.Store.Get("s")!.Value.Value);
        Assert.Equal(engine.Store.Get("s")!.Value.Version, outcomes[6].GetProperty("result").GetInt64());
    }

    private static SharedMemoryOptions Options => new() { MaxValueBytes = 2 * 1024 * 1024 };

    /// <summary>A connection to <paramref name="engine"/> past its hello, the first request of every connection.</summary>
    /// <summary>
    /// Stores five values of 1.5 MB in <paramref name="memory"/>, then sends, through <paramref name="engine"/>, a batch
    /// getting four of them, setting "after", and getting the fifth; the first three results are whole in every case.
    /// </summary>
    private static async Task<(RawJson Answer, JsonElement[] Outcomes)> BatchOfBigGetsAsync(MemoryEngine memory, IStoreEngine engine)
    {
        var big = Encoding.UTF8.GetBytes($"\"{new string('x', 1_500_000)}\"");
        for (int i = 0; i < 5; i++)
        {
            memory.Store.Set($"b{i}", big);
        }

        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var target = GreetedConnection(engine, outbox, Options);
        using var calls = JsonDocument.Parse("""[["get","b0"],["get","b1"],["get","b2"],["get","b3"],["set","after",1],["get","b4"]]""");

        var answer = await target.BatchAsync(new BatchRequest(calls.RootElement));

        using var results = JsonDocument.Parse(answer.Utf8);
        var outcomes = results.RootElement.EnumerateArray().Select(o => o.Clone()).ToArray();
        Assert.Equal(6, outcomes.Length);
        Assert.All(outcomes[..3], o => Assert.Equal(1_500_002, o.GetProperty("result").GetProperty("value").GetRawText().Length));
        return (answer, outcomes);
    }
}
