namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// unsubscribe KEY N: observes KEY and the key "end"; after N changes of KEY disposes that subscription and says
/// disposed/&lt;worker&gt;; when "end" is set, reports how many changes of KEY came after the disposal.
/// </summary>
internal sealed class UnsubscribeScenario : Scenario<UnsubscribeScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int n = arguments.Int(1);
        int received = 0;
        int afterDispose = 0;
        var disposed = false;
        var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var end = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var snapshots = 0;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var endSubscription = store.Observe("end").Subscribe(change =>
        {
            if (change.Kind == KeyChangeKind.Reset)
            {
                if (Interlocked.Increment(ref snapshots) == 2)
                {
                    ready.TrySetResult();
                }
            }
            else
            {
                end.TrySetResult();
            }
        });
        var subscription = store.Observe(arguments[0]).Subscribe(change =>
        {
            if (change.Kind == KeyChangeKind.Reset)
            {
                if (Interlocked.Increment(ref snapshots) == 2)
                {
                    ready.TrySetResult();
                }

                return;
            }

            if (Volatile.Read(ref disposed))
            {
                Interlocked.Increment(ref afterDispose);
            }
            else if (Interlocked.Increment(ref received) == n)
            {
                enough.TrySetResult();
            }
        });
        await ready.Task.WaitAsync(timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        await enough.Task.WaitAsync(timeout);
        Volatile.Write(ref disposed, true);
        subscription.Dispose();
        await store.SetAsync($"disposed/{store.WorkerId}", true, timeout);
        await end.Task.WaitAsync(timeout);
        return new Report(Volatile.Read(ref received), Volatile.Read(ref afterDispose));
    }

    /// <param name="Received">Changes of KEY before the disposal.</param>
    /// <param name="AfterDispose">Changes of KEY after it.</param>
    internal sealed record Report(int Received, int AfterDispose);
}
