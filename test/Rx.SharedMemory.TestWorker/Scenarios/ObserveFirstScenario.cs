namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>observe-first KEY N: observes KEY, says ready/&lt;worker&gt; once the first change came, and reports the first N changes.</summary>
internal sealed class ObserveFirstScenario : Scenario<ObserveFirstScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int count = arguments.Int(1);
        var changes = new List<Change>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource<Change[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = store.Observe(arguments[0]).Subscribe(change =>
        {
            changes.Add(new Change(change.Kind, change.Exists, change.Version, change.HasValue ? change.Value.GetRawText() : null));
            first.TrySetResult();
            if (changes.Count == count)
            {
                done.TrySetResult([.. changes]);
            }
        });
        await first.Task.WaitAsync(timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        return new Report(await done.Task.WaitAsync(timeout));
    }

    /// <param name="Kind">The change's kind.</param>
    /// <param name="Exists">Whether the key exists after it.</param>
    /// <param name="Version">The version it carries.</param>
    /// <param name="Json">The raw JSON of its value, when it has one (a JSON null is "null").</param>
    internal sealed record Change(KeyChangeKind Kind, bool Exists, long Version, string? Json);

    /// <param name="Changes">The first N changes, in order.</param>
    internal sealed record Report(Change[] Changes);
}
