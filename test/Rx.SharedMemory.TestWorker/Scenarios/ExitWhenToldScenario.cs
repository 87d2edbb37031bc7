namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// exit-when-told: stays connected until the key exit/&lt;worker&gt; holds a number, then exits with it as its exit
/// code, as a worker that finishes (0) or fails (any other) on its own would; or, as serve, until its master closes
/// the connection. Writes no report.
/// </summary>
internal sealed class ExitWhenToldScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, _, timeout, _) = context;
        var told = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using (store.Observe($"exit/{store.WorkerId}").Subscribe(
            change =>
            {
                if (change.HasValue)
                {
                    told.TrySetResult(change.GetValue<int>());
                }
            },
            _ =>
            {
                // The connection ended (the host stops, and its master with it): Completion says so below.
            }))
        {
            await Task.WhenAny(told.Task, store.Completion).WaitAsync(timeout);
            if (told.Task.IsCompleted)
            {
                // Exits here, not in the observer: the process ends on the scenario's own flow.
                Environment.Exit(await told.Task);
            }
        }

        return Done.Instance;
    }
}
