namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>serve: stays connected, doing nothing, until its master closes the connection (or it is killed).</summary>
internal sealed class ServeScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        await context.Store.Completion.WaitAsync(context.Timeout);
        return Done.Instance;
    }
}
