using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.Tests;

/// <summary>Bad input from one worker: a clear error for it, nothing lost, and the master and other workers go on.</summary>
public sealed class BadInputTests() : WorkerProcessTestBase(new SharedMemoryOptions { MaxValueBytes = 1024, MaxKeyLength = 16 })
{
    [Fact]
    public async Task RefusedOperations_FailInTheWorker_AsTheirOwnExceptions_NamingKeyAndLimit_AndStoreNothing()
    {
        await this.Master.Store.SetAsync("text", "abc", this.TimeoutToken);
        await using var busy = await this.Master.Store.AcquireLockAsync("busy", TimeSpan.FromSeconds(1), this.TimeoutToken);
        var expired = this.Master.Changes.FirstAsync(c => c.Key == "short-lived" && c.Kind == KeyChangeKind.Expired).ToTask(this.TimeoutToken);

        var report = await this.ReportAfterExitAsync<LimitsScenario.Report>(await this.SpawnAsync("limits", "2000", "17"));
        var calls = report.Calls;

        var value = calls["value"];
        Assert.Equal((nameof(SharedMemoryLimitExceededException), "Key 'big': 2002 exceeds the limit MaxValueBytes = 1024."), (value.Exception, value.Message));
        Assert.Equal(("big", "MaxValueBytes", 1024L, 2002L), (value.LimitKey, value.LimitName, value.Limit, value.Actual));
        Assert.Equal((nameof(SharedMemoryLimitExceededException), $"Key '{new string('k', 17)}': 17 exceeds the limit MaxKeyLength = 16."), (calls["key"].Exception, calls["key"].Message));
        Assert.Equal(nameof(ArgumentException), calls["empty"].Exception);
        Assert.Equal(Outcome.Succeeded, calls["small"]);
        Assert.Equal(nameof(InvalidOperationException), calls["increment"].Exception);
        Assert.StartsWith("Key 'text' holds \"abc\"", calls["increment"].Message, StringComparison.Ordinal);
        Assert.Equal(nameof(TimeoutException), calls["lock"].Exception);
        Assert.StartsWith("The lock 'busy' was not granted", calls["lock"].Message, StringComparison.Ordinal);
        Assert.Equal(Outcome.Succeeded, calls["ttl"]);
        Assert.False(report.BigStored);
        await expired;
        foreach (var gone in new[] { "big", "short-lived" })
        {
            Assert.Null(await this.Master.Store.GetEntryAsync<System.Text.Json.JsonElement>(gone, this.TimeoutToken));
        }

        Assert.Equal(2, this.Master.Count);
    }

    [Fact]
    public async Task ValuesPlacedInTheSharedRegion_ThatAreMalformedOutOfRangeOrTooLarge_AreRefused_AndTheConnectionGoesOn()
    {
        var report = await this.ReportAfterExitAsync(await this.SpawnAsync("raw-region"));
        Assert.Contains("shrink refused", report);

        using var response = System.Text.Json.JsonDocument.Parse(report[^1]);
        var results = response.RootElement.GetProperty("result").EnumerateArray().ToArray();
        int Code(int call) => results[call].GetProperty("error").GetProperty("code").GetInt32();
        Assert.Equal(-32011, Code(0));
        Assert.Contains("not one JSON value", results[0].GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(-32011, Code(1));
        Assert.Equal(-32010, Code(2));
        Assert.Equal("MaxValueBytes", results[2].GetProperty("error").GetProperty("data").GetProperty("limitName").GetString());
        Assert.Equal("[1,2,3]", results[4].GetProperty("result").GetProperty("value").GetRawText());
        Assert.Equal(-32010, Code(5));
        Assert.Equal(("MaxValueDepth", 100), (results[5].GetProperty("error").GetProperty("data").GetProperty("limitName").GetString(), results[5].GetProperty("error").GetProperty("data").GetProperty("actual").GetInt32()));
        var stored = await this.Master.Store.GetAsync<int[]>("r/ok", this.TimeoutToken);
        Assert.Equal(new[] { 1, 2, 3 }, stored);
        foreach (var refused in new[] { "r/bad", "r/out", "r/big", "r/deep" })
        {
            Assert.Null(await this.Master.Store.GetEntryAsync<System.Text.Json.JsonElement>(refused, this.TimeoutToken));
        }
    }

    [Theory]
    [InlineData("raw-garbage")]
    [InlineData("raw-oversized")]
    public async Task MalformedOrOversizedMessage_ClosesThatWorkersConnection_AndOthersGoOn(string scenario)
    {
        var echo = await this.SpawnReadyAsync("echo");
        var broken = await this.SpawnAsync(scenario);

        var lines = await this.ReportAfterExitAsync(broken);

        Assert.Contains("master closed the connection", lines);
        if (scenario == "raw-oversized")
        {
            // Refused on the header: the master stopped reading long before the 256 MiB body was sent.
            var closedAfter = lines.Single(l => l.StartsWith("closed after ", StringComparison.Ordinal));
            Assert.True(long.Parse(closedAfter["closed after ".Length..]) < 16 * 1024 * 1024, closedAfter);
        }

        Assert.Equal([echo.Worker.Id], this.Master.Workers.Select(w => w.Id));
        var pong = this.Master.Store.Observe("pong/x").Where(c => c.Kind == KeyChangeKind.Set).Replay();
        using var pongs = pong.Connect();
        await this.Master.Store.SetAsync("ping/x", 7, this.TimeoutToken);
        Assert.Equal(7, (await this.FirstAsync(pong, _ => true)).GetValue<int>());
    }
}
