using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Engine;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Frames written by hand to a real master: what each kind of bad input gets (an error answer, or the end of that
/// connection only), and the corpus of inputs that once broke something, replayed.
/// </summary>
public sealed class RawFrameTests() : WorkerProcessTestBase(new SharedMemoryOptions { MaxValueBytes = 64 * 1024, MaxKeyLength = 128 })
{
    /// <summary>The corpus: each file holds the bytes of one input (one or more frames) that once broke the master or a worker.</summary>
    public static TheoryData<string> Corpus() => [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "FuzzCorpus"), "*.frames").Select(f => Path.GetFileName(f)!).Order()];

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task CorpusInput_CostsAtMostItsOwnConnection_AndTheMasterServesOthers(string name)
    {
        var echo = await this.SpawnReadyAsync("echo");
        var bytes = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "FuzzCorpus", name), this.TimeoutToken);

        // Beside each input, what it must get: the probe's outcome, then text every answer together holds, or "present KEY".
        var expected = await File.ReadAllLinesAsync(Path.Combine(AppContext.BaseDirectory, "FuzzCorpus", Path.ChangeExtension(name, ".expect")), this.TimeoutToken);

        var (outcome, replies) = await this.SendAsync(bytes);

        Assert.True(outcome == expected[0], $"{name}: {outcome}, expected {expected[0]}");
        string answers = string.Join('\n', replies.Select(r => r.GetRawText()));
        foreach (var line in expected.Skip(1).Where(l => l.Length > 0))
        {
            if (line.StartsWith("present ", StringComparison.Ordinal))
            {
                Assert.True(await this.Master.Store.GetEntryAsync<JsonElement>(line["present ".Length..], this.TimeoutToken) is not null, $"{name}: {line}");
            }
            else
            {
                Assert.True(answers.Contains(line, StringComparison.Ordinal), $"{name}: no answer holds '{line}':\n{answers}");
            }
        }

        await this.AssertServesOthersAsync(echo.Worker);
    }

    [Fact]
    public async Task Hello_MustBeTheFirstRequest_AndIsAnsweredOnce()
    {
        var (_, early) = await this.SendAsync(Frame("""{"jsonrpc":"2.0","id":10,"method":"get","params":["a"]}"""), beforeHello: true);
        var (outcome, again) = await this.SendAsync(Frame("""{"jsonrpc":"2.0","id":11,"method":"hello","params":[1,1]}"""));

        Assert.Equal(-32015, Error(Reply(early, 10)).GetProperty("code").GetInt32());
        Assert.Contains("before hello", Error(Reply(early, 10)).GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(-32015, Error(Reply(again, 11)).GetProperty("code").GetInt32());
        Assert.Equal("Answered", outcome);
    }

    [Fact]
    public async Task BadKeysDeepValuesAndLongTimesToLive_OnTheWire_GetTheirErrors_AndInvalidUtf8CostsTheConnection()
    {
        string deep = new string('[', 33) + "1" + new string(']', 33);
        byte[] frames =
        [
            .. Frame("""{"jsonrpc":"2.0","id":20,"method":"set","params":["k\ud800",1]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":21,"method":"batch","params":[[["set","k\udc00",1],["get","ok\ud83d\ude00"]]]}"""),
            .. Frame($$"""{"jsonrpc":"2.0","id":22,"method":"set","params":["deep",{{deep}}]}"""),
            .. Frame($$"""{"jsonrpc":"2.0","id":23,"method":"batch","params":[[["set","deep",{{deep}}]]]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":24,"method":"set","params":["ttl",1,1e300]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":25,"method":"set","params":["ttl0",1,0]}"""),
            .. Frame([.. Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":26,"method":"set","params":["k"""), 0xC3, 0x28, .. Encoding.UTF8.GetBytes("\",2]}")]),
        ];

        var (outcome, replies) = await this.SendAsync(frames);

        Assert.Equal(-32011, Error(Reply(replies, 20)).GetProperty("code").GetInt32());
        Assert.Contains("UTF-16", Error(Reply(replies, 20)).GetProperty("message").GetString(), StringComparison.Ordinal);
        var batch = Reply(replies, 21).GetProperty("result");
        Assert.Equal(-32011, batch[0].GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(JsonValueKind.Null, batch[1].GetProperty("result").ValueKind);
        foreach (var error in new[] { Error(Reply(replies, 22)), Reply(replies, 23).GetProperty("result")[0].GetProperty("error") })
        {
            Assert.Equal(-32010, error.GetProperty("code").GetInt32());
            Assert.Equal("""{"key":"deep","limitName":"MaxValueDepth","limit":32,"actual":33}""", error.GetProperty("data").GetRawText());
        }

        Assert.True(Reply(replies, 24).GetProperty("result").GetInt64() > 0);
        Assert.Equal(-32011, Error(Reply(replies, 25)).GetProperty("code").GetInt32());
        Assert.DoesNotContain(replies, r => r.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.Number && id.GetInt32() == 26);
        Assert.Equal("Closed", outcome);
        Assert.Equal(1, await this.Master.Store.GetAsync<int>("ttl", this.TimeoutToken));
        Assert.Null(await this.Master.Store.GetEntryAsync<JsonElement>("deep", this.TimeoutToken));
    }

    /// <summary>
    /// A value whose JSON escapes a lone surrogate is refused: a worker in another language can write one, and no .NET
    /// worker could read it back as text (a .NET caller's own serializer refuses to write one). A pair is text, and kept.
    /// A message that escapes one is not delivered.
    /// </summary>
    [Theory]
    [InlineData(TestEngine.Memory)]
    [InlineData(TestEngine.Redis)]
    public async Task ValuesThatEscapeALoneSurrogate_OnTheWire_AreRefused32011_NamingTheKey_AndAPairIsKept(TestEngine engine)
    {
        await using var master = await this.StartMasterAsync(engine);
        var told = System.Reactive.Linq.Observable.Replay(master.Messages);
        using var listening = told.Connect();
        byte[] frames =
        [
            .. Frame("""{"jsonrpc":"2.0","method":"message","params":{"message":"a\ud800"}}"""),
            .. Frame("""{"jsonrpc":"2.0","method":"message","params":{"message":"after"}}"""),
            .. Frame("""{"jsonrpc":"2.0","id":30,"method":"set","params":["lone","a\ud800b"]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":31,"method":"set","params":{"key":"lone/name","value":{"\udc00":1}}}"""),
            .. Frame("""{"jsonrpc":"2.0","id":32,"method":"batch","params":[[["set","lone/batch",["x","\ud800"]],["set","pair","\ud83d\ude00"]]]}"""),
        ];

        // Awaited by id: a Redis master answers a write when Redis does, which can be after the probe's answer.
        var (outcome, replies) = await this.SendAsync(frames, master: master, awaitIds: "30,31,32");

        foreach (var (error, key) in new[] { (Error(Reply(replies, 30)), "lone"), (Error(Reply(replies, 31)), "lone/name"), (Reply(replies, 32).GetProperty("result")[0].GetProperty("error"), "lone/batch") })
        {
            Assert.Equal(-32011, error.GetProperty("code").GetInt32());
            Assert.StartsWith($"The value of key '{key}' is not valid UTF-16 text", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        Assert.True(Reply(replies, 32).GetProperty("result")[1].GetProperty("result").GetInt64() > 0);
        Assert.Equal("Answered", outcome);
        Assert.Equal("\ud83d\ude00", await master.Store.GetAsync<string>("pair", this.TimeoutToken));
        Assert.Null(await master.Store.GetEntryAsync<JsonElement>("lone", this.TimeoutToken));

        // A message alike is not delivered (and is logged): the sender's next one is the first its observers get.
        Assert.Equal("after", (await this.FirstAsync(told, _ => true)).Deserialize<string>());
    }

    [Fact]
    public async Task NullForAnOptionalArgument_StandsForItLeftOut_ByPositionAndByName()
    {
        byte[] frames =
        [
            .. Frame("""{"jsonrpc":"2.0","id":50,"method":"set","params":["n/set",1,null,null]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":51,"method":"set","params":{"key":"n/named","value":2,"ttlMs":null,"ephemeral":null}}"""),
            .. Frame("""{"jsonrpc":"2.0","id":52,"method":"compareAndSet","params":["n/cas",0,3,null,null]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":53,"method":"increment","params":["n/count",null]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":54,"method":"increment","params":{"key":"n/count","delta":null}}"""),
            .. Frame("""{"jsonrpc":"2.0","id":55,"method":"subscribe","params":[1,"n/set",null,null]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":56,"method":"subscribe","params":{"subscription":2,"key":"n/","prefix":null}}"""),
        ];

        var (outcome, replies) = await this.SendAsync(frames, awaitIds: "50,51,52,53,54,55,56");

        int[] answeredWithAVersion = [50, 51, 55, 56];
        foreach (int id in answeredWithAVersion)
        {
            Assert.True(Reply(replies, id).GetProperty("result").GetInt64() > 0, $"request {id}: {Reply(replies, id)}");
        }

        Assert.True(Reply(replies, 52).GetProperty("result").GetProperty("succeeded").GetBoolean());
        Assert.Equal(2, Reply(replies, 54).GetProperty("result").GetProperty("value").GetInt64());
        Assert.Equal("Answered", outcome);
        Assert.Equal(1, await this.Master.Store.GetAsync<int>("n/set", this.TimeoutToken));
        Assert.Equal(2, await this.Master.Store.GetAsync<int>("n/named", this.TimeoutToken));
        Assert.Equal(3, await this.Master.Store.GetAsync<int>("n/cas", this.TimeoutToken));
    }

    [Fact]
    public async Task ALockNameLongerThanMaxKeyLength_Is32010_NamingTheLimit_AndOneAsLongIsGranted()
    {
        string longest = new('n', 128);
        byte[] frames =
        [
            .. Frame($$"""{"jsonrpc":"2.0","id":60,"method":"lock","params":["{{longest}}x",0]}"""),
            .. Frame($$"""{"jsonrpc":"2.0","id":61,"method":"lock","params":["{{longest}}",0]}"""),
        ];

        var (outcome, replies) = await this.SendAsync(frames);

        var error = Error(Reply(replies, 60));
        Assert.Equal(-32010, error.GetProperty("code").GetInt32());
        Assert.Equal(("MaxKeyLength", 128, 129), (error.GetProperty("data").GetProperty("limitName").GetString(), error.GetProperty("data").GetProperty("limit").GetInt32(), error.GetProperty("data").GetProperty("actual").GetInt32()));
        Assert.True(Reply(replies, 61).GetProperty("result").GetInt64() > 0);
        Assert.Equal("Answered", outcome);
    }

    [Fact]
    public async Task LockTimeouts_PastWhatATimerOrATimeSpanHolds_WaitWithoutEnd_AndACancelledWaitIsAnswered32800()
    {
        byte[] frames =
        [
            .. Frame("""{"jsonrpc":"2.0","id":40,"method":"lock","params":["t/free",1e300]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":41,"method":"lock","params":["t/held",0]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":42,"method":"lock","params":["t/held",1e300]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":43,"method":"lock","params":{"name":"t/held","timeoutMs":1e12}}"""),
            .. Frame("""{"jsonrpc":"2.0","id":44,"method":"lock","params":["t/held",1]}"""),
            .. Frame("""{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":42}}"""),
            .. Frame("""{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":43}}"""),
        ];

        var (outcome, replies) = await this.SendAsync(frames, awaitIds: "42,43,44");

        // 1e300 ms is past a TimeSpan (an overflow once), 1e12 ms past a timer (refused once): both wait until the
        // lock is granted or the wait is cancelled, as a time to live past a TimeSpan is the longest there is.
        Assert.True(Reply(replies, 40).GetProperty("result").GetInt64() > 0);
        Assert.True(Reply(replies, 41).GetProperty("result").GetInt64() > 0);
        foreach (int cancelled in new[] { 42, 43 })
        {
            var error = Error(Reply(replies, cancelled));
            Assert.Equal(-32800, error.GetProperty("code").GetInt32());
            Assert.False(error.TryGetProperty("data", out _), error.GetRawText());
        }

        Assert.Equal(-32013, Error(Reply(replies, 44)).GetProperty("code").GetInt32());
        Assert.Equal("Answered", outcome);
    }

    [Fact]
    public async Task AFaultInsideTheMaster_IsAnsweredAsAnInternalError_AndBadArguments32602_WithNoDotNetTypeOrStackInTheAnswer()
    {
        using var logs = new RecordingLoggerFactory();
        await using var master = new SharedMemoryMaster(new SharedMemoryOptions(), logs, static (o, m) => new FaultyEngine(new MemoryEngine(o, m)));
        byte[] frames =
        [
            .. Frame("""{"jsonrpc":"2.0","id":50,"method":"get","params":["fault/a"]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":51,"method":"batch","params":[[["set","fault/b",1],["set","ok",2]]]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":52,"method":"lock","params":["fault/l",0]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":53,"method":"subscribe","params":[1,"fault/s"]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":54,"method":"unsubscribe","params":[1]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":55,"method":"get","params":[5]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":56,"method":"set","params":{"key":"a","value":1,"ttlMs":"x"}}"""),
            .. Frame("""{"jsonrpc":"2.0","id":57,"method":"nothing","params":[]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":58,"method":"get","params":["a","b"]}"""),
            .. Frame("""{"jsonrpc":"2.0","id":59,"method":"set","params":["a"]}"""),
        ];

        var (outcome, replies) = await this.SendAsync(frames, master: master);

        var internals = new[] { Error(Reply(replies, 50)), Reply(replies, 51).GetProperty("result")[0].GetProperty("error"), Error(Reply(replies, 52)), Error(Reply(replies, 54)) };
        Assert.Equal(["get", "set", "lock", "unsubscribe"], internals.Select(e => e.GetProperty("message").GetString()!.Split('\'')[1]));
        foreach (var error in internals)
        {
            Assert.Equal(-32603, error.GetProperty("code").GetInt32());
            Assert.EndsWith("': an internal error, which it logged.", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        Assert.True(Reply(replies, 51).GetProperty("result")[1].GetProperty("result").GetInt64() > 0);
        Assert.Equal(1, Reply(replies, 53).GetProperty("result").GetInt64());
        Assert.Equal(-32602, Error(Reply(replies, 55)).GetProperty("code").GetInt32());
        Assert.Equal(-32602, Error(Reply(replies, 56)).GetProperty("code").GetInt32());
        Assert.Equal(-32601, Error(Reply(replies, 57)).GetProperty("code").GetInt32());

        // StreamJsonRpc's message says what did not match, without the master's own .NET names.
        Assert.Equal(
            "Unable to find method 'get/2' for the following reasons: get(String) parameter(s): 1 - 1, but the request supplies 2",
            Error(Reply(replies, 58)).GetProperty("message").GetString());
        Assert.Equal(-32602, Error(Reply(replies, 59)).GetProperty("code").GetInt32());
        foreach (var reply in replies.Where(r => r.TryGetProperty("error", out _)).Select(Error).Concat(internals))
        {
            // The protocol's errors carry data only for a limit; .NET's and StreamJsonRpc's exceptions stay in the master.
            Assert.False(reply.TryGetProperty("data", out _), reply.GetRawText());
        }

        string answers = string.Join('\n', replies.Select(r => r.GetRawText()));
        foreach (var inside in new[] { FaultyEngine.FaultMessage, nameof(NullReferenceException), "   at ", "\"stack\"", "\"type\"", "Rx.SharedMemory", "DisplayClass", "`1" })
        {
            Assert.DoesNotContain(inside, answers, StringComparison.Ordinal);
        }

        // The master logs each, with the exception.
        var logged = await logs.Records.Where(r => r.EventId.Id == 108).Take(4).ToList().ToTask(this.TimeoutToken);
        Assert.All(logged, r => Assert.Equal((LogLevel.Error, "RequestFailed", FaultyEngine.FaultMessage), (r.Level, r.EventId.Name, r.Exception?.Message)));
        Assert.Equal(["get", "lock", "set", "unsubscribe"], logged.Select(r => r.Message.Split('\'')[1]).Order());
        Assert.Equal("Answered", outcome);
    }

    /// <summary>
    /// A worker in another language may write a frame in pieces; here every byte is a write of its own, so that the
    /// master reads the header lines in pieces too. Every frame is answered, whatever its valid headers.
    /// </summary>
    [Fact]
    public async Task FramesWrittenOneByteAWrite_AreAnswered()
    {
        var body = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":40,"method":"set","params":["bytes/a",7]}""");
        byte[] frames =
        [
            .. Encoding.ASCII.GetBytes($"X-Note: 1\r\nContent-Length: 000000000000{body.Length}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"),
            .. body,
            .. Frame("""{"jsonrpc":"2.0","id":41,"method":"get","params":["bytes/a"]}"""),
        ];

        var (outcome, replies) = await this.SendAsync(frames, eachByte: true);

        Assert.Equal("Answered", outcome);
        long version = Reply(replies, 40).GetProperty("result").GetInt64();
        Assert.Equal(version, Reply(replies, 41).GetProperty("result").GetProperty("version").GetInt64());
        Assert.Equal(7, await this.Master.Store.GetAsync<int>("bytes/a", this.TimeoutToken));
    }

    /// <summary>
    /// A <c>traceparent</c> that is not a string, or not text, is no context, and a <c>tracestate</c> is ignored
    /// whatever its form: the request is run as one without them, on a request of its own and in a batch.
    /// </summary>
    [Fact]
    public async Task TraceMembersOfAnyForm_AreIgnored_AndTheRequestRuns()
    {
        string[] members = ["\"traceparent\":5", "\"traceparent\":{}", "\"traceparent\":\"\\ud800\"", "\"tracestate\":5", "\"tracestate\":{\"a\":1}", "\"tracestate\":\"\\ud800\""];
        var frames = members.SelectMany((member, i) => Frame($$"""{"jsonrpc":"2.0","id":{{60 + i}},"method":"set","params":["trace/{{i}}",{{i}}],{{member}}}""")).ToList();
        frames.AddRange(Frame("""{"jsonrpc":"2.0","id":70,"method":"batch","params":[[["set","trace/batch",1],["get","trace/batch"]],["\ud800",{}]]}"""));

        var (outcome, replies) = await this.SendAsync([.. frames]);

        Assert.Equal("Answered", outcome);
        for (int i = 0; i < members.Length; i++)
        {
            Assert.True(Reply(replies, 60 + i).TryGetProperty("result", out _), $"{members[i]}: {Reply(replies, 60 + i).GetRawText()}");
            Assert.Equal(i, await this.Master.Store.GetAsync<int>($"trace/{i}", this.TimeoutToken));
        }

        var batch = Reply(replies, 70).GetProperty("result");
        Assert.True(batch[0].GetProperty("result").GetInt64() > 0, batch.GetRawText());
        Assert.Equal(1, batch[1].GetProperty("result").GetProperty("value").GetInt32());
    }

    private static JsonElement Reply(JsonElement[] replies, int id) =>
        replies.Single(r => r.TryGetProperty("id", out var value) && value.ValueKind == JsonValueKind.Number && value.GetInt32() == id);

    private static JsonElement Error(JsonElement reply) => reply.GetProperty("error");

    /// <summary>Sends bytes from a raw worker after its hello (or before it), then a probe; returns what became of the probe and every other answer.</summary>
    /// <param name="bytes">What to send.</param>
    /// <param name="beforeHello">Whether to send it before the hello.</param>
    /// <param name="master">The master to send it to; the test's when null.</param>
    /// <param name="awaitIds">The ids (comma-separated) of requests answered later than those after them, whose answers the worker waits for before the probe.</param>
    /// <param name="eachByte">Whether to write each byte with a write of its own.</param>
    internal async Task<(string Outcome, JsonElement[] Replies)> SendAsync(byte[] bytes, bool beforeHello = false, SharedMemoryMaster? master = null, string? awaitIds = null, bool eachByte = false)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(file, bytes, this.TimeoutToken);
            string[] arguments = [file, (64 * 1024 + 16 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture), beforeHello ? "before-hello" : eachByte ? "after-hello-each-byte" : "after-hello", .. awaitIds is null ? Array.Empty<string>() : [awaitIds]];
            var lines = await this.ReportAfterExitAsync(await this.SpawnOnAsync(master ?? this.Master, "raw-frames", arguments));
            var replies = lines.Where(l => l.StartsWith("reply ", StringComparison.Ordinal)).Select(l => JsonDocument.Parse(l["reply ".Length..]).RootElement).ToArray();
            return (lines.Single(l => l.StartsWith("outcome ", StringComparison.Ordinal))["outcome ".Length..], replies);
        }
        finally
        {
            File.Delete(file);
        }
    }

    internal static byte[] Frame(string json) => Frame(Encoding.UTF8.GetBytes(json));

    internal static byte[] Frame(byte[] body) => [.. Encoding.ASCII.GetBytes($"Content-Length: {body.Length}\r\n\r\n"), .. body];

    /// <summary>The other worker still answers through the master.</summary>
    private async Task AssertServesOthersAsync(IWorker other)
    {
        Assert.Contains(other.Id, this.Master.Workers.Select(w => w.Id));
        var pong = System.Reactive.Linq.Observable.Replay(System.Reactive.Linq.Observable.Where(this.Master.Store.Observe("pong/x"), c => c.Kind == KeyChangeKind.Set));
        using var pongs = pong.Connect();
        int value = Random.Shared.Next();
        await this.Master.Store.SetAsync("ping/x", value, this.TimeoutToken);
        Assert.Equal(value, (await this.FirstAsync(pong, _ => true)).GetValue<int>());
    }
}
