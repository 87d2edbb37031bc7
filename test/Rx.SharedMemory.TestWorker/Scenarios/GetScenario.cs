using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>get KEY...: reads each key's raw JSON.</summary>
internal sealed class GetScenario : Scenario<GetScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var entries = new List<Entry>();
        foreach (var key in arguments.All)
        {
            var entry = await store.GetEntryAsync<JsonElement>(key, timeout);
            entries.Add(new Entry(key, entry is not null, entry?.Version, entry?.Value.GetRawText()));
        }

        return new Report(entries);
    }

    /// <param name="Key">The key read.</param>
    /// <param name="Exists">Whether it held a value.</param>
    /// <param name="Version">Its version, when it exists.</param>
    /// <param name="Json">Its value's raw JSON, when it exists.</param>
    internal sealed record Entry(string Key, bool Exists, long? Version, string? Json);

    /// <param name="Entries">What each get found, in the order of the arguments.</param>
    internal sealed record Report(List<Entry> Entries);
}
