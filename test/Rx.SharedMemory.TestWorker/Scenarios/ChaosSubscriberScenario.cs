using System.Reactive.Linq;
using System.Text.Json;

namespace Rx.SharedMemory.TestWorker;

/// <summary>Subscriptions that come and go at random while other workers write, each recording what it saw.</summary>
internal static class ChaosSubscriber
{
    public static async Task RunAsync(SharedMemoryWorker store, int seed, Report report, CancellationToken timeout, int maxDelayMs = 0)
    {
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
                active.Add((record, source.Subscribe(change =>
                {
                    record.Add(change);
                    if (maxDelayMs > 0 && Random.Shared.Next(20) == 0)
                    {
                        // A slow observer now and then, so that changes wait in this worker too.
                        Thread.Sleep(Random.Shared.Next(maxDelayMs + 1));
                    }
                })));
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

        report.Line(JsonSerializer.Serialize(records));
    }

    internal sealed class SubscriptionRecord
    {
        public int Id { get; set; }

        public string Filter { get; set; } = string.Empty;

        public bool IsPrefix { get; set; }

        public long? FromVersion { get; set; }

        public bool DisposedEarly { get; set; }

        public List<ChangeRecord> Changes { get; set; } = [];

        internal long LastVersion { get; private set; }

        /// <summary>Gets or sets how many characters of each value to keep, so that the record of large values stays small; null for all.</summary>
        internal int? ValuePrefix { get; set; }

        private string Prefix(string value) => this.ValuePrefix is { } length && value.Length > length ? value[..length] : value;

        public void Add(KeyChange change)
        {
            lock (this.Changes)
            {
                this.Changes.Add(new ChangeRecord(change.Key, change.Kind.ToString(), change.Version, change.SkippedVersions, change.HasValue ? this.Prefix(change.Value.GetRawText()) : null));
                this.LastVersion = Math.Max(this.LastVersion, change.Version);
            }
        }
    }

    internal sealed record ChangeRecord(string Key, string Kind, long Version, long Skipped, string? Value);
}
