using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;

namespace Rx.SharedMemory.Tests;

/// <summary>Store-wide <see cref="JsonSerializerOptions"/> and per-call <see cref="System.Text.Json.Serialization.Metadata.JsonTypeInfo{T}"/>, through real worker processes.</summary>
public sealed class SerializationTests() : WorkerProcessTestBase(new SharedMemoryOptions { JsonSerializerOptions = CamelCase })
{
    // The master's store-wide options; the test worker's camel mode uses options of its own with the same policy.
    private static readonly JsonSerializerOptions CamelCase = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private static readonly JsonSerializerOptions Defaults = new();

    /// <summary>
    /// README, In a generic host: a wrong setting fails the start with OptionsValidationException naming each by its key,
    /// JsonSerializerOptions with no contracts to find (no resolver, reflection disabled) included; and a master whose
    /// settings are refused leaves the caller's JsonSerializerOptions writable.
    /// </summary>
    [Fact]
    public async Task RefusedSettings_LeaveTheCallersJsonSerializerOptionsWritable_InEveryKindOfStore()
    {
        JsonSerializerOptions Json() => new();
        var local = Json();
        var redisMaster = Json();
        var redisStore = Json();

        Assert.Throws<ArgumentOutOfRangeException>(() => new SharedMemoryMaster(new SharedMemoryOptions { JsonSerializerOptions = local, MaxEntries = 0 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Redis.RedisSharedMemory.StartMasterAsync(NewRedisStore(), new SharedMemoryOptions { JsonSerializerOptions = redisMaster, MaxEntries = 0 }, cancellationToken: this.TimeoutToken));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Redis.RedisSharedMemory.ConnectStoreAsync(NewRedisStore(), new SharedMemoryOptions { JsonSerializerOptions = redisStore, MaxEntries = 0 }, cancellationToken: this.TimeoutToken));

        Assert.All(new[] { local, redisMaster, redisStore }, json => Assert.False(json.IsReadOnly));
    }

    [Fact]
    public async Task WithReflectionDisabled_OptionsWithoutAResolver_AreAWrongSetting_NamedAmongTheOthers()
    {
        var (exitCode, lines) = await this.RunProgramAsync("no-reflection");

        Assert.Equal(0, exitCode);
        Assert.Equal("reflection False", lines[0]);
        string Case(string name) => Assert.Single(lines, line => line.StartsWith(name + " ", StringComparison.Ordinal));
        Assert.StartsWith("master ArgumentException: SharedMemoryOptions.JsonSerializerOptions has no TypeInfoResolver", Case("master"), StringComparison.Ordinal);
        Assert.StartsWith("master-two-wrong ArgumentOutOfRangeException: SharedMemoryOptions.MaxEntries must be positive", Case("master-two-wrong"), StringComparison.Ordinal);
        Assert.Equal("caller-options-read-only False", Case("caller-options-read-only"));
        var hostedMaster = Case("hosted-master");
        Assert.StartsWith("hosted-master OptionsValidationException:", hostedMaster, StringComparison.Ordinal);
        Assert.Contains("SharedMemoryMasterHostOptions:Store:JsonSerializerOptions has no TypeInfoResolver", hostedMaster, StringComparison.Ordinal);
        Assert.Contains("SharedMemoryMasterHostOptions:Store:MaxEntries must be positive", hostedMaster, StringComparison.Ordinal);
        var hostedWorker = Case("hosted-worker");
        Assert.StartsWith("hosted-worker OptionsValidationException:", hostedWorker, StringComparison.Ordinal);
        Assert.Contains("SharedMemoryWorkerHostOptions:Connection:JsonSerializerOptions has no TypeInfoResolver", hostedWorker, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoreWideOptions_CamelCase_InMasterAndWorker_StoreCamelCaseJson_ReadByEachOther()
    {
        await this.Master.Store.SetAsync("from-master", new Reading("master", 2), this.TimeoutToken);

        var report = await this.ReportAfterExitAsync<SerializerScenario.Report>(await this.SpawnAsync("serializer", "camel", "from-worker", "from-master"));

        Assert.Equal("""{"sensorName":"worker","value":1.5}""", report.Json);
        Assert.Equal(new Reading("worker", 1.5), report.ReadBack);
        Assert.Equal(new Reading("master", 2), report.Other);
        Assert.True(report.OptionsReadOnly);
        Assert.Equal(new Reading("worker", 1.5), await this.Master.Store.GetAsync<Reading>("from-worker", this.TimeoutToken));
        Assert.Equal("""{"sensorName":"master","value":2}""", (await this.Master.Store.GetEntryAsync("from-master", ReadingJsonContext.Default.JsonElement, this.TimeoutToken))!.Value.GetRawText());
    }

    [Fact]
    public async Task WorkerWithoutOptions_WritesAndReadsWithSystemTextJsonsDefaults()
    {
        await this.Master.Store.SetAsync("from-master", new Reading("master", 2), Defaults, cancellationToken: this.TimeoutToken);

        var report = await this.ReportAfterExitAsync<SerializerScenario.Report>(await this.SpawnAsync("serializer", "default", "from-worker", "from-master"));

        Assert.Equal("""{"SensorName":"worker","Value":1.5}""", report.Json);
        Assert.Equal(new Reading("worker", 1.5), report.ReadBack);
        Assert.Equal(new Reading("master", 2), report.Other);
    }

    [Fact]
    public async Task JsonTypeInfo_FromSourceGeneratedContext_RoundTripsThroughAWorker_InEveryTypedCall()
    {
        await this.Master.Store.SetAsync("sensor/other", new Reading("master", 3), ReadingJsonContext.Default.Reading, cancellationToken: this.TimeoutToken);

        var report = await this.ReportAfterExitAsync<SerializerScenario.Report>(await this.SpawnAsync("serializer", "context", "sensor/a", "sensor/other"));

        // Written, updated and swapped with the context's snake_case contract, not the master's camelCase options.
        Assert.Equal("""{"sensor_name":"swapped","value":3}""", report.Json);
        Assert.Equal(new Reading("worker", 1.5), report.Seen);
        Assert.Equal(new Reading("worker", 3), report.Updated);
        Assert.True(report.Swapped);
        Assert.Equal(new Reading("swapped", 3), report.ReadBack);
        Assert.Equal(new Reading("swapped", 3), report.Mirrored);
        Assert.Equal(new Reading("master", 3), report.Other);
        Assert.Equal(new Reading("swapped", 3), await this.Master.Store.GetAsync("sensor/a", ReadingJsonContext.Default.Reading, this.TimeoutToken));
    }

    [Fact]
    public async Task KeyChange_GetValue_WithJsonTypeInfo_ReadsTheChangesValue()
    {
        var change = this.Master.Store.Observe("k").Where(c => c.Kind == KeyChangeKind.Set).FirstAsync().ToTask(this.TimeoutToken);
        await this.Master.Store.SetAsync("k", new Reading("m", 4), ReadingJsonContext.Default.Reading, cancellationToken: this.TimeoutToken);

        var seen = await change;

        Assert.Equal(new Reading("m", 4), seen.GetValue(ReadingJsonContext.Default.Reading));
        Assert.Equal("m", seen.Value.GetProperty("sensor_name").GetString());
    }

    [Fact]
    public async Task PerCallOptions_ReplaceTheStores_ForThatCallOnly()
    {
        await this.Master.Store.SetAsync("p", new Reading("per-call", 5), Defaults, cancellationToken: this.TimeoutToken);

        Assert.Equal("""{"SensorName":"per-call","Value":5}""", (await this.Master.Store.GetEntryAsync("p", ReadingJsonContext.Default.JsonElement, this.TimeoutToken))!.Value.GetRawText());
        Assert.Equal(new Reading("per-call", 5), await this.Master.Store.GetAsync<Reading>("p", Defaults, this.TimeoutToken));
        Assert.Null((await this.Master.Store.GetAsync<Reading>("p", this.TimeoutToken))!.SensorName);
    }

    [Fact]
    public async Task Mirror_ReadsWithItsStoresOptions()
    {
        await this.Master.Store.SetAsync("m/a", new Reading("mirrored", 6), this.TimeoutToken);
        using var mirror = await this.Master.Store.MirrorAsync("m/", this.TimeoutToken);

        Assert.True(mirror.TryGet<Reading>("m/a", out var read));
        Assert.Equal(new Reading("mirrored", 6), read);
    }

    [Fact]
    public async Task StoreWideOptions_AreMadeReadOnly_WhenTheStoreTakesThem()
    {
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
        await using var master = new SharedMemoryMaster(new SharedMemoryOptions { JsonSerializerOptions = options });

        Assert.True(options.IsReadOnly);
        Assert.True(CamelCase.IsReadOnly);
        Assert.Throws<InvalidOperationException>(() => options.PropertyNamingPolicy = null);
        await master.Store.SetAsync("s", new Reading("snake", 7), this.TimeoutToken);
        Assert.Equal("snake", (await master.Store.GetAsync<JsonElement>("s", this.TimeoutToken)).GetProperty("sensor_name").GetString());
    }
}
