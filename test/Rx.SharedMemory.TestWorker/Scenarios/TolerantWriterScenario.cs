namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// tolerant-writer SEED WRITES: as chaos-writer (4 loops writing or deleting random keys p&lt;0..3&gt;/k&lt;0..19&gt;), each
/// value unique to this writer, until WRITES are acknowledged; a call that fails because the store is unavailable is
/// counted as unknown and the loop goes on. Reports every acknowledged write.
/// </summary>
internal sealed class TolerantWriterScenario : Scenario<TolerantWriterScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int seed = arguments.Int(0);
        int total = arguments.Int(1);
        int acknowledged = 0;
        int unknown = 0;
        int issued = 0;
        var writes = new List<Write>();
        var failures = new List<string>();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async loop =>
        {
            var random = new Random((seed * 31) + loop);
            while (Volatile.Read(ref acknowledged) < total)
            {
                var key = $"p{random.Next(4)}/k{random.Next(20)}";
                long value = (seed * 10_000_000L) + Interlocked.Increment(ref issued);
                try
                {
                    var write = random.Next(10) == 0
                        ? new Write(key, null, await store.DeleteAsync(key, timeout) ? 1 : 0)
                        : new Write(key, value, await store.SetAsync(key, value, timeout));
                    lock (writes)
                    {
                        writes.Add(write);
                    }

                    Interlocked.Increment(ref acknowledged);
                }
                catch (SharedMemoryUnavailableException ex)
                {
                    lock (failures)
                    {
                        failures.Add(ex.Message);
                    }

                    Interlocked.Increment(ref unknown);
                }
            }
        }));
        return new Report([.. writes], unknown, [.. failures.Take(3)]);
    }

    /// <param name="Key">The key written.</param>
    /// <param name="Value">The value set; null for a delete.</param>
    /// <param name="Version">The version a set committed at; for a delete, 1 when it removed the key, 0 when it was absent.</param>
    internal sealed record Write(string Key, long? Value, long Version);

    /// <param name="Acknowledged">Every write whose call returned.</param>
    /// <param name="Unknown">How many calls failed with the store unavailable: their outcome is unknown.</param>
    /// <param name="Failures">The first failures' messages.</param>
    internal sealed record Report(Write[] Acknowledged, int Unknown, string[] Failures);
}
