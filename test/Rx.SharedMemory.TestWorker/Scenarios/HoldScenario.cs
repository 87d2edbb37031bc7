namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>hold NAME: takes the lock, says ready, and holds it until killed.</summary>
internal sealed class HoldScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var held = await store.AcquireLockAsync(arguments[0], TimeSpan.FromSeconds(30), timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        await Task.Delay(Timeout.Infinite, timeout);
        await held.DisposeAsync();
        return Done.Instance;
    }
}
