namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// orphan: observes "x", says ready, then keeps calls in flight until the master goes away; reports the exception of a
/// call that was pending at that moment, of a later call, and of the observable.
/// </summary>
internal sealed class OrphanScenario : Scenario<OrphanScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, _, timeout, _) = context;
        var observableError = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        var snapshot = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = store.Observe("x").Subscribe(
            _ => snapshot.TrySetResult(),
            error => observableError.TrySetResult(error),
            () => observableError.TrySetResult(new InvalidOperationException("completed")));
        await snapshot.Task.WaitAsync(timeout);
        Exception? pending = null;
        try
        {
            await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        }
        catch (SharedMemoryDisconnectedException ex)
        {
            // The test saw the change and disposed the master before this answer came: this call was the one pending.
            pending = ex;
        }

        while (pending is null)
        {
            var calls = Enumerable.Range(0, 16).Select(i => store.GetAsync<int>("x", timeout).AsTask()).ToArray();
            try
            {
                await Task.WhenAll(calls);
            }
            catch (Exception)
            {
                var failed = calls.First(c => c.IsFaulted || c.IsCanceled);
                pending = failed.IsCanceled ? new OperationCanceledException("canceled") : failed.Exception!.InnerException!;
            }
        }

        string? later = null;
        try
        {
            await store.GetAsync<int>("x", timeout);
        }
        catch (Exception ex)
        {
            later = ex.GetType().Name;
        }

        return new Report(pending.GetType().Name, later, (await observableError.Task.WaitAsync(timeout)).GetType().Name);
    }

    /// <param name="Pending">The exception type of a call pending when the master went away.</param>
    /// <param name="Later">The exception type of a call made after, or null if it succeeded.</param>
    /// <param name="Observable">The exception type that ended the observable (InvalidOperationException if it completed).</param>
    internal sealed record Report(string Pending, string? Later, string Observable);
}
