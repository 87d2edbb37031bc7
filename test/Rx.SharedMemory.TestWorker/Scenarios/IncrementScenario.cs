namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>increment KEY N: adds 1 to KEY N times, 16 calls in flight.</summary>
internal sealed class IncrementScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int n = arguments.Int(1);
        int issued = 0;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            while (Interlocked.Increment(ref issued) <= n)
            {
                await store.IncrementAsync(arguments[0], 1, timeout);
            }
        }));
        return Done.Instance;
    }
}
