using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>observe-raw KEY: reads the raw JSON of the first change of KEY (its current state), and of a get.</summary>
internal sealed class ObserveRawScenario : Scenario<ObserveRawScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var first = await store.Observe(arguments[0]).FirstAsync().ToTask(timeout);
        var got = await store.GetAsync<JsonElement>(arguments[0], timeout);
        return new Report(first.Value.GetRawText(), got.GetRawText());
    }

    /// <param name="Observed">The raw JSON of the observed state.</param>
    /// <param name="Got">The raw JSON a get returned.</param>
    internal sealed record Report(string Observed, string Got);
}
