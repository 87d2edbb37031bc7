namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// big-gets N: N values of 1.5 MB set one by one, then read all at once (more than one answer can hold), followed by an
/// increment, a rewrite of the first and a read of it: each read must see what the order of calls implies, and the
/// increment, in the batch whose answer is full, must apply once, not again with the calls not run.
/// </summary>
internal sealed class BigGetsScenario : Scenario<BigGetsScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int count = arguments.Int(0);
        static string Big(int i) => new((char)('a' + i), 1_500_000);
        for (int i = 0; i < count; i++)
        {
            await store.SetAsync($"big/{i}", Big(i), timeout);
        }

        var reads = Enumerable.Range(0, count).Select(i => store.GetAsync<string>($"big/{i}", timeout).AsTask()).ToArray();
        var increment = store.IncrementAsync("big/count", 1, timeout).AsTask();
        var rewrite = store.SetAsync("big/0", "changed", timeout).AsTask();
        var reread = store.GetAsync<string>("big/0", timeout).AsTask();
        int wrong = 0;
        for (int i = 0; i < count; i++)
        {
            wrong += await reads[i] == Big(i) ? 0 : 1;
        }

        await rewrite;
        wrong += await reread == "changed" ? 0 : 1;
        wrong += (await increment).Value == 1 && await store.GetAsync<long>("big/count", timeout) == 1 ? 0 : 1;
        return new Report(wrong);
    }

    /// <param name="Wrong">How many reads saw something other than what the order of calls implies.</param>
    internal sealed record Report(int Wrong);
}
