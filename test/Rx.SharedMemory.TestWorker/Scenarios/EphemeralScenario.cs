namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>ephemeral KEY: writes KEY as ephemeral, says ready, and waits until killed.</summary>
internal sealed class EphemeralScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        await store.SetAsync(arguments[0], "mine", new SetOptions { Ephemeral = true }, timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        await Task.Delay(Timeout.Infinite, timeout);
        return Done.Instance;
    }
}
