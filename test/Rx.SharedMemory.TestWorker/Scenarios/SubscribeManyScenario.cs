namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// subscribe-many KEY N: sets KEY, observes it N times and keeps every subscription, reports how many started (their
/// Reset came) and how the others failed; then ends ten of those that started and observes ten more times, reporting
/// how many of those started.
/// </summary>
internal sealed class SubscribeManyScenario : Scenario<SubscribeManyScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var key = arguments[0];
        int n = arguments.Int(1);
        await store.SetAsync(key, 1, timeout);
        var subscriptions = new List<(IDisposable Subscription, Task<Outcome> Outcome)>();
        void Observe()
        {
            var outcome = new TaskCompletionSource<Outcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            var subscription = store.Observe(key).Subscribe(_ => outcome.TrySetResult(Outcome.Succeeded), ex => outcome.TrySetResult(Outcome.Of(ex)));
            subscriptions.Add((subscription, outcome.Task));
        }

        for (int i = 0; i < n; i++)
        {
            Observe();
        }

        var outcomes = await Task.WhenAll(subscriptions.Select(s => s.Outcome)).WaitAsync(timeout);
        foreach (var (subscription, _) in subscriptions.Where((_, i) => outcomes[i] == Outcome.Succeeded).Take(10).ToArray())
        {
            subscription.Dispose();
        }

        subscriptions.Clear();
        for (int i = 0; i < 10; i++)
        {
            Observe();
        }

        var again = await Task.WhenAll(subscriptions.Select(s => s.Outcome)).WaitAsync(timeout);
        return new Report(Counted<Outcome>.Of(outcomes), again.Count(o => o == Outcome.Succeeded));
    }

    /// <param name="Outcomes">How the first N subscriptions started or failed, alike ones counted together.</param>
    /// <param name="AgainStarted">How many of the ten made after ending ten started.</param>
    internal sealed record Report(Counted<Outcome>[] Outcomes, int AgainStarted);
}
