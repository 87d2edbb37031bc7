namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>count KEY N: sets KEY to 1..N, one write at a time.</summary>
internal sealed class CountScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int n = arguments.Int(1);
        for (int i = 1; i <= n; i++)
        {
            await store.SetAsync(arguments[0], i, timeout);
        }

        return Done.Instance;
    }
}
