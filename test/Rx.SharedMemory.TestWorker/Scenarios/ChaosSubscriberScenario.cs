using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// chaos-subscriber SEED [CAPACITY MAXBYTES [DELAY_MS]]: until chaos/end is true, keeps opening subscriptions to random
/// keys and prefixes (from the current state, resuming where a disposed one stopped, or from a random version seen) and
/// disposing them; then reports every subscription and what it saw. With CAPACITY and MAXBYTES, the worker's queue for
/// its observers is that small; with DELAY_MS, an observer sleeps up to that long now and then.
/// </summary>
internal sealed class ChaosSubscriberScenario : Scenario<ChaosSubscriberScenario.Report>
{
    public override SharedMemoryWorkerOptions? WorkerOptions(ScenarioArguments arguments) => arguments.ObserverQueueBounds();

    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int seed = arguments.Int(0);
        int maxDelayMs = arguments.Count > 3 ? arguments.Int(3) : 0;
        var random = new Random(seed);
        var records = new List<SubscriptionRecord>();
        var active = new List<(SubscriptionRecord Record, IDisposable Subscription)>();
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var flushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var flushKey = $"chaos/flush/{store.WorkerId}";
        using var end = store.ObservePrefix("chaos/").Subscribe(change =>
        {
            ready.TrySetResult();
            if (change.Key == "chaos/end" && change.Value.ValueKind == JsonValueKind.True)
            {
                ended.TrySetResult();
            }
            else if (change.Key == flushKey)
            {
                flushed.TrySetResult();
            }
        });
        await ready.Task.WaitAsync(timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);

        while (!ended.Task.IsCompleted)
        {
            if (active.Count > 0 && random.Next(2) == 0)
            {
                var (record, subscription) = active[random.Next(active.Count)];
                subscription.Dispose();
                record.DisposedEarly = true;
                active.RemoveAll(a => a.Record == record);
            }
            else
            {
                var prefix = random.Next(2) == 0;
                var filter = prefix ? $"p{random.Next(4)}/" : $"p{random.Next(4)}/k{random.Next(20)}";
                long? from = null;
                int choice = random.Next(10);
                long seen = records.Count == 0 ? 0 : records.Max(r => r.LastVersion);
                if (choice < 4)
                {
                    // Resumes where an earlier subscription to the same filter stopped.
                    var earlier = records.LastOrDefault(r => r.Filter == filter && r.DisposedEarly);
                    from = earlier?.LastVersion ?? seen;
                }
                else if (choice < 7)
                {
                    from = (long)(random.NextDouble() * seen);
                }

                var record = new SubscriptionRecord { Id = records.Count, Filter = filter, IsPrefix = prefix, FromVersion = from };
                records.Add(record);
                var source = prefix ? store.ObservePrefix(filter, from) : store.Observe(filter, from);
                active.Add((record, source.Subscribe(
                    change =>
                    {
                        record.Add(change);
                        if (maxDelayMs > 0 && Random.Shared.Next(20) == 0)
                        {
                            // A slow observer now and then, so that changes wait in this worker too.
                            Thread.Sleep(Random.Shared.Next(maxDelayMs + 1));
                        }
                    },
                    record.Fail)));
            }

            await Task.Delay(1 + random.Next(5), timeout);
        }

        // This connection's changes arrive in the order the master queued them, and it handles this worker's requests
        // in order: once the flush write comes back as a change, every subscription made before it has received all
        // that was committed before the end.
        await store.SetAsync(flushKey, true, timeout);
        await flushed.Task.WaitAsync(timeout);
        foreach (var (_, subscription) in active)
        {
            subscription.Dispose();
        }

        return new Report([.. records]);
    }

    /// <param name="Subscriptions">Every subscription made, in order, and what each saw.</param>
    internal sealed record Report(SubscriptionRecord[] Subscriptions);
}
