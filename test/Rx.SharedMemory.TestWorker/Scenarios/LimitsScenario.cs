namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>limits BIGVALUELENGTH LONGKEYLENGTH: breaks each limit and reports how each call ended.</summary>
internal sealed class LimitsScenario : Scenario<LimitsScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var calls = new Dictionary<string, Outcome>();
        async Task TryAsync<T>(string what, Func<ValueTask<T>> call) => calls[what] = await Outcome.OfAsync(call);

        var big = new string('x', arguments.Int(0));
        var longKey = new string('k', arguments.Int(1));
        await TryAsync("value", () => store.SetAsync("big", big, timeout));
        await TryAsync("key", () => store.SetAsync(longKey, 1, timeout));
        await TryAsync("empty", () => store.SetAsync(string.Empty, 1, timeout));
        await TryAsync("small", () => store.SetAsync("small", 1, timeout));
        await TryAsync("increment", () => store.IncrementAsync("text", 1, timeout));
        await TryAsync("lock", () => store.AcquireLockAsync("busy", TimeSpan.FromMilliseconds(50), timeout));
        await TryAsync("ttl", () => store.SetAsync("short-lived", 1, new SetOptions { TimeToLive = TimeSpan.FromMilliseconds(100) }, timeout));
        return new Report(calls, await store.GetEntryAsync<string>("big", timeout) is not null);
    }

    /// <param name="Calls">How each call ended, by name.</param>
    /// <param name="BigStored">Whether the refused big value is in the store after all.</param>
    internal sealed record Report(Dictionary<string, Outcome> Calls, bool BigStored);
}
