namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>chaos-writer SEED WRITES: 4 loops write or delete random keys p&lt;0..3&gt;/k&lt;0..19&gt; until WRITES in all.</summary>
internal sealed class ChaosWriterScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int seed = arguments.Int(0);
        int total = arguments.Int(1);
        int issued = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async loop =>
        {
            var random = new Random((seed * 31) + loop);
            while (Interlocked.Increment(ref issued) <= total)
            {
                var key = $"p{random.Next(4)}/k{random.Next(20)}";
                if (random.Next(10) == 0)
                {
                    await store.DeleteAsync(key, timeout);
                }
                else
                {
                    await store.SetAsync(key, random.Next(1000), timeout);
                }
            }
        }));
        return Done.Instance;
    }
}
