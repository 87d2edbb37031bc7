namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>flood KEY: writes KEY as fast as it can, 16 writes in flight, until it is killed.</summary>
internal sealed class FloodScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        long i = 0;
        while (true)
        {
            var batch = new Task[16];
            for (int j = 0; j < batch.Length; j++)
            {
                batch[j] = store.SetAsync(arguments[0], ++i, timeout).AsTask();
            }

            await Task.WhenAll(batch);
        }
    }
}
