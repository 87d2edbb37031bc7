namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>lock-waits NAME N: asks for the lock NAME (held by another worker) N times at once, each waiting up to two seconds, and reports how the requests ended.</summary>
internal sealed class LockWaitsScenario : Scenario<LockWaitsScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int n = arguments.Int(1);
        async Task<Wait> WaitAsync()
        {
            try
            {
                await using var held = await store.AcquireLockAsync(arguments[0], TimeSpan.FromSeconds(2), timeout);
                return new Wait(WaitResult.Granted);
            }
            catch (SharedMemoryLimitExceededException limit)
            {
                return new Wait(WaitResult.Refused, limit.LimitName, limit.Limit, limit.Actual);
            }
            catch (TimeoutException)
            {
                return new Wait(WaitResult.TimedOut);
            }
        }

        return new Report(Counted<Wait>.Of(await Task.WhenAll(Enumerable.Range(0, n).Select(_ => WaitAsync()))));
    }

    /// <summary>How a lock request ended.</summary>
    internal enum WaitResult
    {
        Granted,
        Refused,
        TimedOut,
    }

    /// <param name="Result">How it ended.</param>
    /// <param name="LimitName">The limit a refusal names.</param>
    /// <param name="Limit">That limit's value.</param>
    /// <param name="Actual">What broke it.</param>
    internal sealed record Wait(WaitResult Result, string? LimitName = null, long? Limit = null, long? Actual = null);

    /// <param name="Outcomes">How the requests ended, alike ones counted together.</param>
    internal sealed record Report(Counted<Wait>[] Outcomes);
}
