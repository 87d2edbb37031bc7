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

        var (outcome, _) = await this.SendAsync(bytes);

        Assert.True(outcome is "Answered" or "Closed", $"{name}: {outcome}");
        await this.AssertServesOthersAsync(echo.Worker);
    }

    /// <summary>Sends bytes from a raw worker after its hello, then a probe; returns what became of the probe and every other answer.</summary>
    internal async Task<(string Outcome, JsonElement[] Replies)> SendAsync(byte[] bytes)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(file, bytes, this.TimeoutToken);
            var lines = await this.ReportAfterExitAsync(await this.SpawnAsync("raw-frames", file, (64 * 1024 + 16 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            var replies = lines.Where(l => l.StartsWith("reply ", StringComparison.Ordinal)).Select(l => JsonDocument.Parse(l["reply ".Length..]).RootElement).ToArray();
            return (lines.Single(l => l.StartsWith("outcome ", StringComparison.Ordinal))["outcome ".Length..], replies);
        }
        finally
        {
            File.Delete(file);
        }
    }

    internal static byte[] Frame(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        return [.. Encoding.ASCII.GetBytes($"Content-Length: {body.Length}\r\n\r\n"), .. body];
    }

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
