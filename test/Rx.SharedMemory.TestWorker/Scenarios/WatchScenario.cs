namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// watch KEY LAST [FROM]: observes KEY (from the version FROM when given), says ready/&lt;worker&gt; once the first change
/// came, and reports every change until the value LAST.
/// </summary>
internal sealed class WatchScenario : Scenario<WatchScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        long last = arguments.Long(1);
        long? from = arguments.Count > 2 ? arguments.Long(2) : null;
        var changes = new List<Change>();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource<Change[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = store.Observe(arguments[0], from).Subscribe(change =>
        {
            // OnNext calls never overlap: the list is this observer's alone until it hands a copy over.
            long? value = change.HasValue ? change.GetValue<long>() : null;
            changes.Add(new Change(change.Kind, change.Version, value, change.SkippedVersions));
            first.TrySetResult();
            if (value == last)
            {
                done.TrySetResult([.. changes]);
            }
        });
        await first.Task.WaitAsync(timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        return new Report(await done.Task.WaitAsync(timeout));
    }

    /// <param name="Kind">The change's kind.</param>
    /// <param name="Version">The version it carries.</param>
    /// <param name="Value">The value, read as a number, when it has one.</param>
    /// <param name="Skipped">How many versions of the key were conflated into it.</param>
    internal sealed record Change(KeyChangeKind Kind, long Version, long? Value, long Skipped);

    /// <param name="Changes">Every change seen, in order, up to the one whose value is LAST.</param>
    internal sealed record Report(Change[] Changes);
}
