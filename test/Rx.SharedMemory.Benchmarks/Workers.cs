using System.Diagnostics;
using System.Globalization;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.Benchmarks;

/// <summary>The workers' side of each scenario. Each says ready/&lt;id&gt;, waits for "go", runs, and writes result/&lt;id&gt;.</summary>
internal static class Workers
{
    public static async Task RunAsync(SharedMemoryWorker store, string[] args)
    {
        var duration = TimeSpan.FromSeconds(double.Parse(args[1], CultureInfo.InvariantCulture));
        var go = store.Observe("go").FirstAsync(c => c.HasValue).ToTask();
        Func<Task<double[]>> run = args[0] switch
        {
            "get-rtt" => () => GetRoundTripAsync(store, duration),
            "ops" => () => OperationsAsync(store, duration),
            "buffer" => () => LargeBufferAsync(store, duration),
            "notify-subscriber" => () => NotifySubscriberAsync(store),
            "notify-writer" => () => NotifyWriterAsync(store, duration),
            _ => throw new ArgumentException($"Unknown role '{args[0]}'."),
        };

        // The subscriber must be subscribed before the writer starts.
        var prepared = args[0] == "notify-subscriber" ? run() : null;
        await store.SetAsync($"ready/{store.WorkerId}", true);
        await go;
        var result = await (prepared ?? run());
        await store.SetAsync($"result/{store.WorkerId}", result);
    }

    private static async Task<double[]> GetRoundTripAsync(SharedMemoryWorker store, TimeSpan duration)
    {
        var samples = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            long start = Stopwatch.GetTimestamp();
            await store.GetAsync<string>("small");
            if (clock.Elapsed > duration / 5)
            {
                samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            }
        }

        return [Figures.Percentile(samples, 50), Figures.Percentile(samples, 99)];
    }

    private static async Task<double[]> OperationsAsync(SharedMemoryWorker store, TimeSpan duration)
    {
        const int InFlight = 64;
        long operations = 0;
        var warmup = duration / 5;
        var clock = Stopwatch.StartNew();
        TimeSpan measuredFrom = default;
        long countedFrom = 0;
        await Task.WhenAll(Enumerable.Range(0, InFlight).Select(async loop =>
        {
            var key = $"ops/{loop}";
            for (long i = 0; clock.Elapsed < duration + warmup; i++)
            {
                if (i % 2 == 0)
                {
                    await store.SetAsync(key, i);
                }
                else
                {
                    await store.GetAsync<long>(key);
                }

                long done = Interlocked.Increment(ref operations);
                if (measuredFrom == default && clock.Elapsed > warmup)
                {
                    lock (store)
                    {
                        if (measuredFrom == default)
                        {
                            measuredFrom = clock.Elapsed;
                            countedFrom = done;
                        }
                    }
                }
            }
        }));

        return [operations - countedFrom, (clock.Elapsed - measuredFrom).TotalSeconds];
    }

    private static async Task<double[]> LargeBufferAsync(SharedMemoryWorker store, TimeSpan duration)
    {
        var value = new byte[1024 * 1024];
        Random.Shared.NextBytes(value);
        long moved = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            value[0]++;
            await store.SetAsync("blob", value);
            var back = await store.GetAsync<byte[]>("blob");
            if (back is null || !back.AsSpan().SequenceEqual(value))
            {
                throw new InvalidOperationException("The 1 MiB value came back different.");
            }

            moved += 2 * value.Length;
        }

        return [moved / clock.Elapsed.TotalSeconds / 1e6];
    }

    /// <summary>Measures latency on n/latency (each acknowledged before the next), then the rate of n/flood changes until n/end.</summary>
    private static async Task<double[]> NotifySubscriberAsync(SharedMemoryWorker store)
    {
        var latencies = new List<double>();
        long flooded = 0;
        long firstFlood = 0;
        var end = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = store.ObservePrefix("n/").Where(c => c.Kind == KeyChangeKind.Set).Subscribe(change =>
        {
            switch (change.Key)
            {
                case "n/latency":
                    long sent = change.GetValue<long>();
                    latencies.Add(Stopwatch.GetElapsedTime(sent).TotalMicroseconds);
                    _ = store.SetAsync("ack", sent).AsTask();
                    break;
                case "n/flood":
                    if (flooded++ == 0)
                    {
                        firstFlood = Stopwatch.GetTimestamp();
                    }

                    break;
                case "n/end":
                    end.TrySetResult(Stopwatch.GetTimestamp());
                    break;
            }
        });
        long ended = await end.Task;
        latencies.RemoveRange(0, latencies.Count / 5);
        return [Figures.Percentile(latencies, 50), Figures.Percentile(latencies, 99), flooded / Stopwatch.GetElapsedTime(firstFlood, ended).TotalSeconds];
    }

    private static async Task<double[]> NotifyWriterAsync(SharedMemoryWorker store, TimeSpan duration)
    {
        var acks = store.Observe("ack").Where(c => c.Kind == KeyChangeKind.Set).Select(c => c.GetValue<long>()).Replay();
        using (acks.Connect())
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration)
            {
                long sent = Stopwatch.GetTimestamp();
                var acked = acks.FirstAsync(a => a == sent).ToTask();
                await store.SetAsync("n/latency", sent);
                await acked;
            }
        }

        long writes = 0;
        var flood = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async _ =>
        {
            while (flood.Elapsed < duration)
            {
                await store.SetAsync("n/flood", Interlocked.Increment(ref writes));
            }
        }));
        await store.SetAsync("n/end", writes);
        return [writes / flood.Elapsed.TotalSeconds];
    }
}
