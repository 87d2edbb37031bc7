namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// wait-lock NAME: asks for the lock, says ready while waiting (the master handles this worker's requests in order, so
/// the wait is queued by then), and sets got/&lt;worker&gt; once it holds it.
/// </summary>
internal sealed class WaitLockScenario : Scenario<WaitLockScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var acquiring = store.AcquireLockAsync(arguments[0], TimeSpan.FromSeconds(60), timeout).AsTask();
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        await using var held = await acquiring;
        await store.SetAsync($"got/{store.WorkerId}", true, timeout);
        return new Report(GotTheLock: true);
    }

    /// <param name="GotTheLock">Whether it held the lock.</param>
    internal sealed record Report(bool GotTheLock);
}
