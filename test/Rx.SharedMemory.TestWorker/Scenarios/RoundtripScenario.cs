using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>roundtrip: reads typed values the master set and writes them back under echo/&lt;key&gt;.</summary>
internal sealed class RoundtripScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, _, timeout, _) = context;
        await store.SetAsync("echo/sample", await store.GetAsync<Sample>("sample", timeout), timeout);
        await store.SetAsync("echo/bytes", await store.GetAsync<byte[]>("bytes", timeout), timeout);
        await store.SetAsync("echo/unicode", await store.GetAsync<string>("unicode", timeout), timeout);
        await store.SetAsync("echo/null", await store.GetAsync<object?>("null", timeout), timeout);
        await store.SetAsync("echo/raw", await store.GetAsync<JsonElement>("raw", timeout), timeout);
        return Done.Instance;
    }
}
