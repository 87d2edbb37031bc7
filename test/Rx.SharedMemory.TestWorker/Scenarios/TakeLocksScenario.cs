namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>take-locks NAME...: takes and releases each lock, waiting at most 10 s for each; reports each outcome.</summary>
internal sealed class TakeLocksScenario : Scenario<TakeLocksScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var locks = new List<Taken>();
        foreach (var name in arguments.All)
        {
            try
            {
                await using var held = await store.AcquireLockAsync(name, TimeSpan.FromSeconds(10), timeout);
                locks.Add(new Taken(name, true));
            }
            catch (TimeoutException)
            {
                locks.Add(new Taken(name, false));
            }
        }

        return new Report([.. locks]);
    }

    /// <param name="Name">The lock.</param>
    /// <param name="Took">Whether it was granted in time (else the wait timed out).</param>
    internal sealed record Taken(string Name, bool Took);

    /// <param name="Locks">Each lock's outcome, in the order of the arguments.</param>
    internal sealed record Report(Taken[] Locks);
}
