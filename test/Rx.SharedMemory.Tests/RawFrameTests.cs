using System.Text;
using System.Text.Json;

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

    private static JsonElement Reply(JsonElement[] replies, int id) =>
        replies.Single(r => r.TryGetProperty("id", out var value) && value.ValueKind == JsonValueKind.Number && value.GetInt32() == id);

    private static JsonElement Error(JsonElement reply) => reply.GetProperty("error");

    /// <summary>Sends bytes from a raw worker after its hello (or before it), then a probe; returns what became of the probe and every other answer.</summary>
    internal async Task<(string Outcome, JsonElement[] Replies)> SendAsync(byte[] bytes, bool beforeHello = false)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(file, bytes, this.TimeoutToken);
            var lines = await this.ReportAfterExitAsync(await this.SpawnAsync("raw-frames", file, (64 * 1024 + 16 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture), beforeHello ? "before-hello" : "after-hello"));
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
