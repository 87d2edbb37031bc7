using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// latest PREFIX: observes PREFIX, says ready after the first change, and when PREFIX + "done" becomes true reports the
/// last value and version of every key and the total of skipped versions.
/// </summary>
internal sealed class LatestScenario : Scenario<LatestScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var prefix = arguments[0];
        var values = new Dictionary<string, Latest>();
        long skipped = 0;
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource<Report>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = store.ObservePrefix(prefix).Subscribe(change =>
        {
            if (change.HasValue)
            {
                values[change.Key] = new Latest(change.Version, change.Value.GetRawText());
            }

            skipped += change.SkippedVersions;
            first.TrySetResult();
            if (change.Key == prefix + "done" && change.Value.ValueKind == JsonValueKind.True)
            {
                done.TrySetResult(new Report(new Dictionary<string, Latest>(values), skipped));
            }
        });
        await first.Task.WaitAsync(timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        return await done.Task.WaitAsync(timeout);
    }

    /// <param name="Version">The key's last version seen.</param>
    /// <param name="Json">The raw JSON of its last value seen.</param>
    internal sealed record Latest(long Version, string Json);

    /// <param name="Keys">The last value seen of every key, by key.</param>
    /// <param name="Skipped">The total of skipped versions the changes said.</param>
    internal sealed record Report(Dictionary<string, Latest> Keys, long Skipped);
}
