using System.Collections.Frozen;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>Every scenario the test worker runs as a connected worker, by the name the tests pass as the first argument.</summary>
internal static class ScenarioTable
{
    private static readonly FrozenDictionary<string, IScenario> Scenarios = new Dictionary<string, IScenario>
    {
        // Single calls and their effects.
        ["set"] = new SetScenario(),
        ["get"] = new GetScenario(),
        ["count"] = new CountScenario(),
        ["increment"] = new IncrementScenario(),
        ["update"] = new UpdateScenario(),
        ["lock"] = new LockScenario(),
        ["roundtrip"] = new RoundtripScenario(),
        ["observe-raw"] = new ObserveRawScenario(),
        ["spawn-child"] = new SpawnChildScenario(),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IScenario? scenario) =>
        Scenarios.TryGetValue(name, out scenario);
}
