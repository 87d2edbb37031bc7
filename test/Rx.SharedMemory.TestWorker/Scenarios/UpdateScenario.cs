namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>update KEY FIELD N: N read-modify-writes of one JSON object, 4 in flight, each adding 1 to FIELD and to "total".</summary>
internal sealed class UpdateScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        string field = arguments[1];
        int n = arguments.Int(2);
        int issued = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            while (Interlocked.Increment(ref issued) <= n)
            {
                await store.UpdateAsync<Dictionary<string, long>>(arguments[0], current =>
                {
                    var next = current is null ? new Dictionary<string, long>() : new Dictionary<string, long>(current);
                    next[field] = next.GetValueOrDefault(field) + 1;
                    next["total"] = next.GetValueOrDefault("total") + 1;
                    return next;
                }, maxAttempts: 10_000, cancellationToken: timeout);
            }
        }));
        return Done.Instance;
    }
}
