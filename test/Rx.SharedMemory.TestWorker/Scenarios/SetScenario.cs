using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>set KEY JSON...: sets each key to its JSON value.</summary>
internal sealed class SetScenario : Scenario<SetScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var versions = new Dictionary<string, long>();
        for (int i = 0; i < arguments.Count; i += 2)
        {
            versions[arguments[i]] = await store.SetAsync(arguments[i], JsonElement.Parse(arguments[i + 1]), timeout);
        }

        return new Report(versions);
    }

    /// <param name="Versions">The version each key's set returned, by key.</param>
    internal sealed record Report(Dictionary<string, long> Versions);
}
