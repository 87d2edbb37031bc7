namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// hold-many PREFIX N: takes the locks PREFIX0 … PREFIX(N-1) one after another and keeps those granted; then releases
/// the first and asks for PREFIXagain. Reports how each request ended, alike ones counted together, and the last.
/// </summary>
internal sealed class HoldManyScenario : Scenario<HoldManyScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        string prefix = arguments[0];
        var held = new List<IAsyncDisposable>();
        var outcomes = new List<LockWaitsScenario.Wait>();
        async Task<LockWaitsScenario.Wait> TakeAsync(string name)
        {
            try
            {
                held.Add(await store.AcquireLockAsync(name, TimeSpan.FromSeconds(5), timeout));
                return new LockWaitsScenario.Wait(LockWaitsScenario.WaitResult.Granted);
            }
            catch (SharedMemoryLimitExceededException limit)
            {
                return new LockWaitsScenario.Wait(LockWaitsScenario.WaitResult.Refused, limit.LimitName, limit.Limit, limit.Actual);
            }
        }

        for (int i = 0; i < arguments.Int(1); i++)
        {
            outcomes.Add(await TakeAsync(prefix + i));
        }

        await held[0].DisposeAsync();
        held.RemoveAt(0);
        var again = await TakeAsync(prefix + "again");
        foreach (var lockHeld in held)
        {
            await lockHeld.DisposeAsync();
        }

        return new Report(Counted<LockWaitsScenario.Wait>.Of(outcomes), again);
    }

    /// <param name="Outcomes">How the first N requests ended, alike ones counted together.</param>
    /// <param name="Again">How the request after one release ended.</param>
    internal sealed record Report(Counted<LockWaitsScenario.Wait>[] Outcomes, LockWaitsScenario.Wait Again);
}
