using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// slow-observer PREFIX CAPACITY MAXBYTES DELAY_MS: observes PREFIX with an observer that takes DELAY_MS per change,
/// until PREFIX + "end" is true; sets ready/&lt;id&gt; once its state has arrived. Reports the growth of the managed heap
/// (sampled after full collections while it runs) and what it saw (of each value, its first 24 characters: the record
/// must not weigh more than what it measures).
/// </summary>
internal sealed class SlowObserverScenario : Scenario<SlowObserverScenario.Report>
{
    public override SharedMemoryWorkerOptions? WorkerOptions(ScenarioArguments arguments) =>
        new() { SubscriberQueueCapacity = arguments.Int(1), SubscriberQueueMaxBytes = arguments.Long(2) };

    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        string prefix = arguments[0];
        int delayMs = arguments.Int(3);
        var record = new SubscriptionRecord { Filter = prefix, IsPrefix = true, ValuePrefix = 24 };
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        using var subscription = store.ObservePrefix(prefix).Subscribe(change =>
        {
            record.Add(change);
            if (change.Kind == KeyChangeKind.PrefixReset)
            {
                ready.TrySetResult();
                return;
            }

            if (change.Key == prefix + "end" && change.Value.ValueKind == JsonValueKind.True)
            {
                ended.TrySetResult();
                return;
            }

            // The observer's own work, slower than the writer: what this scenario is about.
            Thread.Sleep(delayMs);
        });
        await ready.Task.WaitAsync(timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        long peak = 0;
        while (!ended.Task.IsCompleted)
        {
            peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true) - baseline);
            await Task.WhenAny(ended.Task, Task.Delay(50, timeout));
        }

        return new Report(peak, record);
    }

    /// <param name="HeapGrowth">The largest growth of the managed heap seen while it ran, in bytes.</param>
    /// <param name="Subscription">The subscription and what it saw.</param>
    internal sealed record Report(long HeapGrowth, SubscriptionRecord Subscription);
}
