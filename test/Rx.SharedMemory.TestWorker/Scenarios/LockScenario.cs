namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>lock NAME N: N times takes the lock and records entering and leaving it in the key "locklog".</summary>
internal sealed class LockScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int n = arguments.Int(1);
        for (int i = 0; i < n; i++)
        {
            await using var held = await store.AcquireLockAsync(arguments[0], TimeSpan.FromSeconds(30), timeout);
            await store.SetAsync("locklog", $"enter {store.WorkerId}", timeout);
            await store.SetAsync("locklog", $"exit {store.WorkerId}", timeout);
        }

        return Done.Instance;
    }
}
