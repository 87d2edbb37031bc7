using System.Reactive.Threading.Tasks;
using System.Text.Json;
using Nerdbank.Streams;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>Keys that are not UTF-16, values nested too deep, times to live past any clock: refused or handled alike in a worker, on the wire and in master.Store.</summary>
public sealed class InputRulesTests() : WorkerProcessTestBase(new SharedMemoryOptions { MaxValueBytes = 1024 * 1024 })
{
    private static string Nested(int depth) => new string('[', depth) + "1" + new string(']', depth);

    [Fact]
    public async Task AWorker_RefusesBadKeysAndDeepValues_BeforeTheyTravel_ThroughTheTask_AndNamesKeysAndLimits()
    {
        await this.Master.Store.SetAsync("ttl/text", "not a number", this.TimeoutToken);
        await using var held = await this.Master.Store.AcquireLockAsync("held", TimeSpan.FromSeconds(1), this.TimeoutToken);

        var report = await this.ReportAfterExitAsync<InputRulesScenario.Report>(await this.SpawnAsync("input-rules"));
        var calls = report.Calls;

        // Every call fails through its task, never where it is made.
        Assert.All(calls.Values, outcome => Assert.False(outcome.ThrownAtCallSite));
        Assert.Equal((nameof(ArgumentException), "key"), (calls["lone-high"].Exception, calls["lone-high"].ParamName));
        Assert.Equal((nameof(ArgumentException), "key"), (calls["lone-low"].Exception, calls["lone-low"].ParamName));
        Assert.Equal(Outcome.Succeeded, calls["pair"]);
        Assert.Equal((nameof(ArgumentException), "key"), (calls["get-lone"].Exception, calls["get-lone"].ParamName));
        Assert.Equal((nameof(ArgumentException), "name"), (calls["lock-lone"].Exception, calls["lock-lone"].ParamName));
        Assert.Equal((nameof(ArgumentException), "prefix"), (report.PrefixLone.Exception, report.PrefixLone.ParamName));
        Assert.Equal((nameof(ArgumentException), "key"), (calls["watch-lone"].Exception, calls["watch-lone"].ParamName));
        Assert.Equal((nameof(ArgumentException), "prefix"), (calls["watch-prefix-lone"].Exception, calls["watch-prefix-lone"].ParamName));
        Assert.Equal(Outcome.Succeeded, calls["depth-32"]);
        var depth33 = calls["depth-33"];
        Assert.Equal((nameof(SharedMemoryLimitExceededException), "MaxValueDepth", SharedMemoryOptions.MaxValueDepth, 33L, null), (depth33.Exception, depth33.LimitName, depth33.Limit, depth33.Actual, depth33.Inner));
        Assert.StartsWith("Key 'deep/33'", depth33.Message, StringComparison.Ordinal);
        Assert.Equal((nameof(SharedMemoryLimitExceededException), "MaxValueDepth"), (calls["depth-33-cas"].Exception, calls["depth-33-cas"].LimitName));
        Assert.Equal(Outcome.Succeeded, calls["ttl-max"]);
        Assert.True(report.TtlPresent);
        Assert.Equal([true, true], report.TogetherFaulted);
        Assert.Equal(Outcome.Succeeded, calls["together-accepted"]);
        Assert.Contains("Key 'ttl/text': its value cannot be read as System.Int32", calls["unreadable"].Message, StringComparison.Ordinal);
        Assert.Equal(nameof(JsonException), calls["unreadable"].Exception);
        Assert.Contains("Key 'cycle': a value of type System.Type cannot be serialized", calls["unwritable"].Message, StringComparison.Ordinal);
        Assert.Equal(nameof(ArgumentException), calls["unwritable-nan"].Exception);
        Assert.StartsWith("Key 'collide': a value of type Rx.SharedMemory.TestWorker.Scenarios.InputRulesScenario+Collide cannot be serialized", calls["no-contract-set"].Message, StringComparison.Ordinal);
        Assert.StartsWith("Key 'collide': a value of type Rx.SharedMemory.TestWorker.Scenarios.InputRulesScenario+Collide cannot be serialized", calls["no-contract-cas"].Message, StringComparison.Ordinal);
        Assert.StartsWith("Key 'collide': its value cannot be read as Rx.SharedMemory.TestWorker.Scenarios.InputRulesScenario+Collide", calls["no-contract-get"].Message, StringComparison.Ordinal);
        Assert.Equal((nameof(ArgumentNullException), "options"), (calls["null-options-get"].Exception, calls["null-options-get"].ParamName));
        Assert.Equal((nameof(ArgumentNullException), "options"), (calls["null-options-set"].Exception, calls["null-options-set"].ParamName));
        Assert.StartsWith("Key 'nan': a value of type System.Double cannot be serialized", calls["unwritable-nan"].Message, StringComparison.Ordinal);

        // The master's error, as the worker's own exception, with nothing of StreamJsonRpc in it.
        var lockTimeout = calls["lock-timeout"];
        Assert.Equal((nameof(TimeoutException), null, null, null), (lockTimeout.Exception, lockTimeout.ParamName, lockTimeout.LimitName, lockTimeout.Inner));
        Assert.StartsWith("The lock 'held' was not granted", lockTimeout.Message, StringComparison.Ordinal);

        Assert.Null(await this.Master.Store.GetEntryAsync<JsonElement>("deep/33", this.TimeoutToken));
        Assert.Equal(1, await this.Master.Store.GetAsync<int>("together", this.TimeoutToken));
        Assert.Null(await this.Master.Store.GetEntryAsync<JsonElement>("big", this.TimeoutToken));
    }

    [Fact]
    public async Task AWorker_SendsNothing_ForAKeyWithALoneSurrogate_OrTooLong_OrAValueTooDeep()
    {
        var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
        var master = new FeaturelessMaster();
        using var rpc = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()), master);
        rpc.StartListening();
        await using var worker = await SharedMemoryWorker.ConnectAsync(workerEnd, workerEnd, loggerFactory: null, this.TimeoutToken);

        await Assert.ThrowsAsync<ArgumentException>(async () => await worker.SetAsync("a\ud800", 1, this.TimeoutToken));
        await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(async () => await worker.SetAsync("deep", JsonElement.Parse(Nested(33)), this.TimeoutToken));

        // Past the master's maxKeyLength (100 here): refused as the master would, not sent in a frame it may not read.
        var tooLong = new string('k', 101);
        var refused = await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(async () => await worker.GetAsync<int>(tooLong, this.TimeoutToken));
        Assert.Equal((nameof(SharedMemoryOptions.MaxKeyLength), 100L, 101L), (refused.LimitName, refused.Limit, refused.Actual));
        await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(async () => await worker.SetAsync(tooLong, 1, this.TimeoutToken));
        await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(async () => await worker.DeleteAsync(tooLong, this.TimeoutToken));
        await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(async () => await worker.AcquireLockAsync(tooLong, TimeSpan.Zero, this.TimeoutToken));
        await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(() => worker.ObservePrefix(tooLong).ToTask(this.TimeoutToken));
        await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(() => worker.Observe(tooLong).ToTask(this.TimeoutToken));
        await worker.SetAsync(new string('k', 100), 1, this.TimeoutToken);
        await worker.SetAsync("after", 1, this.TimeoutToken);

        Assert.Equal(["hello", $"set {new string('k', 100)}", "set after"], master.Calls);
    }

    [Theory]
    [InlineData("""{"a":[1,"text",true]}""", false)]
    [InlineData("""["\ud83d\ude00","\u00e9\u0027"]""", false)]
    [InlineData("""["\\ud800","\\\ud83d\ude00"]""", false)]
    [InlineData("""{"\uDBFF\uDFFF":"\n\t\"\\"}""", false)]
    [InlineData("""["\ud800"]""", true)]
    [InlineData("""["a\udc00b"]""", true)]
    [InlineData("""["\ud800\u0041"]""", true)]
    [InlineData("""["\ud800\ud800"]""", true)]
    [InlineData("""["\ude00\ud83d"]""", true)]
    [InlineData("""{"\ud800":1}""", true)]
    [InlineData("""["\\\ud800"]""", true)]
    public void LoneSurrogateIn_FindsAnEscapedLoneSurrogate_AndNothingElse(string json, bool lone)
    {
        // The cases read as System.Text.Json reads them: it fails exactly on the lone ones.
        bool unreadable = false;
        try
        {
            _ = JsonSerializer.Deserialize<JsonElement>(json).GetRawText();
            foreach (var text in Strings(JsonDocument.Parse(json).RootElement))
            {
                _ = text;
            }
        }
        catch (InvalidOperationException)
        {
            unreadable = true;
        }

        Assert.Equal(lone, unreadable);
        Assert.Equal(lone, Rpc.InputRules.LoneSurrogateIn(System.Text.Encoding.UTF8.GetBytes(json)) is not null);
    }

    private static IEnumerable<string> Strings(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                yield return element.GetString()!;
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray().SelectMany(Strings))
                {
                    yield return item;
                }

                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    yield return property.Name;
                    foreach (var item in Strings(property.Value))
                    {
                        yield return item;
                    }
                }

                break;
        }
    }

    [Fact]
    public async Task TheDeepestValueAllowed_SetByOneWorker_IsReadAndObservedByAnother()
    {
        var deep = Nested(SharedMemoryOptions.MaxValueDepth);
        await this.ReportAfterExitAsync(await this.SpawnAsync("set", "deep", deep));

        var report = await this.ReportAfterExitAsync<ObserveRawScenario.Report>(await this.SpawnAsync("observe-raw", "deep"));

        Assert.Equal(deep, report.Observed);
        Assert.Equal(deep, report.Got);
    }

    [Fact]
    public async Task MasterStore_RefusesBadKeysAndDeepValues_ThroughTheTask()
    {
        var store = this.Master.Store;

        // Issued together: none throws at its call site, and the good one runs.
        var badKey = store.SetAsync("k\udc00", 1, this.TimeoutToken);
        var tooDeep = store.SetAsync("deep", JsonElement.Parse(Nested(33)), this.TimeoutToken);
        var badRead = store.GetAsync<int>(string.Empty, this.TimeoutToken);
        var badIncrement = store.IncrementAsync("\ud800", 1, this.TimeoutToken);
        var good = store.SetAsync("good", 1, this.TimeoutToken);

        Assert.Equal("key", (await Assert.ThrowsAsync<ArgumentException>(async () => await badKey)).ParamName);
        var limit = await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(async () => await tooDeep);
        Assert.Equal(("deep", "MaxValueDepth", 32L, 33L), (limit.Key, limit.LimitName, limit.Limit, limit.Actual));
        await Assert.ThrowsAsync<ArgumentException>(async () => await badRead);
        await Assert.ThrowsAsync<ArgumentException>(async () => await badIncrement);
        Assert.True(await good > 0);
        // Refused at the call, as a worker's store refuses them, not when subscribed.
        Assert.Equal("prefix", Assert.Throws<ArgumentException>(() => store.ObservePrefix("p\ud800")).ParamName);
        Assert.Equal("key", Assert.Throws<ArgumentException>(() => store.Observe("k\ud800")).ParamName);

        // A watch returns no task: the call never throws, and its first MoveNextAsync fails through its task.
        IAsyncEnumerable<KeyChange>[] badWatches =
        [
            store.WatchAsync(string.Empty, cancellationToken: this.TimeoutToken),
            store.WatchPrefixAsync("p\ud800", cancellationToken: this.TimeoutToken),
            store.WatchAsync("k", bufferCapacity: 0, cancellationToken: this.TimeoutToken),
            SharedStoreExtensions.WatchPrefixAsync(null!, "p/", cancellationToken: this.TimeoutToken),
        ];
        foreach (var watch in badWatches)
        {
            await using var enumerator = watch.GetAsyncEnumerator(this.TimeoutToken);
            ValueTask<bool> first = enumerator.MoveNextAsync();
            await Assert.ThrowsAnyAsync<ArgumentException>(async () => await first);
        }

        await store.SetAsync("text", "abc", this.TimeoutToken);
        var unreadable = await Assert.ThrowsAsync<JsonException>(async () => await store.GetAsync<int>("text", this.TimeoutToken));
        Assert.Contains("Key 'text'", unreadable.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MasterStore_AValueThatCannotBeSerialized_FailsThroughTheTask_NamingTheKey()
    {
        var store = this.Master.Store;
        var cycle = new Node();
        cycle.Next = cycle;

        // Issued together: none throws at its call site, and the good one runs.
        var cyclic = store.SetAsync("cyclic", cycle, this.TimeoutToken);
        var type = store.SetAsync("type", typeof(int), new SetOptions { TimeToLive = TimeSpan.FromMinutes(1) }, this.TimeoutToken);
        var notANumber = store.SetAsync("nan", double.NaN, this.TimeoutToken);
        var good = store.SetAsync("good", 1, this.TimeoutToken);

        Assert.StartsWith("Key 'cyclic': a value of type Rx.SharedMemory.Tests.InputRulesTests+Node cannot be serialized", (await Assert.ThrowsAsync<JsonException>(async () => await cyclic)).Message, StringComparison.Ordinal);
        Assert.StartsWith("Key 'type': a value of type System.Type cannot be serialized", (await Assert.ThrowsAsync<NotSupportedException>(async () => await type)).Message, StringComparison.Ordinal);
        Assert.StartsWith("Key 'nan': a value of type System.Double cannot be serialized", (await Assert.ThrowsAsync<ArgumentException>(async () => await notANumber)).Message, StringComparison.Ordinal);
        Assert.True(await good > 0);
        foreach (var key in new[] { "cyclic", "type", "nan" })
        {
            Assert.Null(await store.GetEntryAsync<JsonElement>(key, this.TimeoutToken));
        }
    }

    [Fact]
    public async Task ATimeToLiveOfTimeSpanMaxValue_DoesNotOverflow_IntoAnImmediateExpiry()
    {
        await this.Master.Store.SetAsync("forever", 1, new SetOptions { TimeToLive = TimeSpan.MaxValue }, this.TimeoutToken);
        await this.Master.Store.SetAsync("years", 1, new SetOptions { TimeToLive = TimeSpan.FromDays(365.25 * 28_000) }, this.TimeoutToken);
        await this.Master.Store.IncrementAsync("forever", 1, this.TimeoutToken);

        Assert.Equal(2, await this.Master.Store.GetAsync<int>("forever", this.TimeoutToken));
        Assert.Equal(1, await this.Master.Store.GetAsync<int>("years", this.TimeoutToken));
        Assert.Equal(DateTimeOffset.MaxValue.UtcTicks, Store.KeyValueStore.ExpiryTicks(DateTimeOffset.UtcNow.UtcTicks, TimeSpan.MaxValue));
    }

    /// <summary>A value that refers to itself: it cannot be serialized.</summary>
    private sealed class Node
    {
        public Node? Next { get; set; }
    }
}
