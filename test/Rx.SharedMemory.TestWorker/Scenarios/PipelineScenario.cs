namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// pipeline N: N rounds started without awaiting any, each a set of its own key, a get of the key the round before set,
/// and an increment; every 50th round also an increment of a string (refused). Then checks each result against what
/// the order of the calls implies.
/// </summary>
internal sealed class PipelineScenario : Scenario<PipelineScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int rounds = arguments.Int(0);
        await store.SetAsync("pipeline/text", "not a number", timeout);
        var sets = new Task<long>[rounds];
        var gets = new Task<StoreEntry<int>?>[rounds];
        var increments = new Task<StoreEntry<long>>[rounds];
        var refused = new List<Task<StoreEntry<long>>>();
        for (int i = 0; i < rounds; i++)
        {
            sets[i] = store.SetAsync($"pipeline/{i}", i, timeout).AsTask();
            gets[i] = store.GetEntryAsync<int>($"pipeline/{Math.Max(0, i - 1)}", timeout).AsTask();
            increments[i] = store.IncrementAsync("pipeline/count", 1, timeout).AsTask();
            if (i % 50 == 0)
            {
                refused.Add(store.IncrementAsync("pipeline/text", 1, timeout).AsTask());
            }
        }

        int wrong = 0;
        for (int i = 0; i < rounds; i++)
        {
            var got = await gets[i];
            var expectedVersion = await sets[Math.Max(0, i - 1)];
            var counted = await increments[i];
            if (got is null || got.Value != Math.Max(0, i - 1) || got.Version != expectedVersion || counted.Value != i + 1)
            {
                wrong++;
            }
        }

        int refusedAsExpected = 0;
        foreach (var call in refused)
        {
            try
            {
                await call;
            }
            catch (InvalidOperationException ex) when (ex.Message.Contains("pipeline/text", StringComparison.Ordinal))
            {
                refusedAsExpected++;
            }
        }

        return new Report(wrong, refusedAsExpected, refused.Count);
    }

    /// <param name="Wrong">How many rounds saw a result other than what the order of calls implies.</param>
    /// <param name="RefusedAsExpected">How many increments of the string failed naming its key.</param>
    /// <param name="Refused">How many increments of the string were made.</param>
    internal sealed record Report(int Wrong, int RefusedAsExpected, int Refused);
}
