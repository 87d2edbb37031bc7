namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>subscribe-hold KEY N: observes KEY N times, says ready once every subscription has its Reset, and keeps them until killed.</summary>
internal sealed class SubscribeHoldScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int n = arguments.Int(1);
        int started = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscriptions = Enumerable.Range(0, n).Select(_ =>
        {
            bool first = true;
            return store.Observe(arguments[0]).Subscribe(_ =>
            {
                if (first)
                {
                    first = false;
                    if (Interlocked.Increment(ref started) == n)
                    {
                        all.TrySetResult();
                    }
                }
            });
        }).ToArray();
        await all.Task.WaitAsync(timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        await Task.Delay(Timeout.Infinite, timeout);
        return Done.Instance;
    }
}
