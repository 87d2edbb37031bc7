using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.Benchmarks;

/// <summary>The workers' side of each scenario. Each says ready/&lt;pid&gt;, waits for "go", runs, and writes result/&lt;pid&gt; (process ids: worker ids repeat across masters).</summary>
internal static class Workers
{
    public static async Task RunAsync(SharedMemoryWorker store, string[] args)
    {
        var phase = Phase.FromArguments(args[1], args[2]);
        if (args[0] == "slow-subscriber")
        {
            // Subscribes, says ready, and is stopped by the master; it ends with the connection.
            using var watching = store.ObservePrefix("s/").Subscribe(_ => { });
            await store.SetAsync($"ready/{Environment.ProcessId}", true);
            await store.Completion;
            return;
        }

        // "go" carries the number of the scenario's workers.
        var go = store.Observe("go").FirstAsync(c => c.HasValue).Select(c => c.GetValue<int>()).ToTask();
        int workers = 0;
        Func<Task<double[]>> run = args[0] switch
        {
            "get-rtt" => () => GetRoundTripAsync(store, phase),
            "ops" => () => OperationsAsync(store, phase, workers),
            "buffer" => () => LargeBufferAsync(store, phase),
            "notify-subscriber" => () => NotifySubscriberAsync(store),
            "notify-writer" => () => NotifyWriterAsync(store, phase),
            "slow-writer" => () => SlowWriterAsync(store, phase),
            "mirror-reader" => () => MirrorReaderAsync(store, phase),
            "mirror-writer" => () => MirrorWriterAsync(store, phase),
            _ => throw new ArgumentException($"Unknown role '{args[0]}'."),
        };

        // The subscriber must be subscribed before the writer starts.
        var prepared = args[0] is "notify-subscriber" or "mirror-reader" ? run() : null;
        await store.SetAsync($"ready/{Environment.ProcessId}", true);
        workers = await go;
        var result = await (prepared ?? run());
        await store.SetAsync($"result/{Environment.ProcessId}", result);
    }

    private static async Task<double[]> GetRoundTripAsync(SharedMemoryWorker store, Phase phase)
    {
        var samples = await phase.SampleAsync(() => store.GetAsync<string>("small").AsTask());
        return [Figures.Percentile(samples, 50), Figures.Percentile(samples, 99)];
    }

    /// <summary>
    /// 64 loops, each alternating a set and a get of its own key: 64 requests always in flight. Counted once every
    /// worker of the scenario (<paramref name="workers"/>, all of them ops workers) has warmed up, so that their
    /// measured seconds are the same seconds and their rates add up.
    /// </summary>
    private static async Task<double[]> OperationsAsync(SharedMemoryWorker store, Phase phase, int workers)
    {
        const int InFlight = 64;
        long operations = 0;
        bool stop = false;
        var loops = Task.WhenAll(Enumerable.Range(0, InFlight).Select(async loop =>
        {
            var key = $"ops/{loop}";
            for (long i = 0; !Volatile.Read(ref stop); i++)
            {
                if (i % 2 == 0)
                {
                    await store.SetAsync(key, i);
                }
                else
                {
                    await store.GetAsync<long>(key);
                }

                Interlocked.Increment(ref operations);
            }
        }));

        await phase.WarmUpAsync();
        var allWarm = store.Observe("warm").FirstAsync(c => c.HasValue && c.GetValue<long>() >= workers).ToTask();
        await store.IncrementAsync("warm");
        await allWarm;
        long countedFrom = Interlocked.Read(ref operations);
        var clock = Stopwatch.StartNew();
        await Task.Delay(phase.Measure);
        long counted = Interlocked.Read(ref operations) - countedFrom;
        double seconds = clock.Elapsed.TotalSeconds;
        Volatile.Write(ref stop, true);
        await loops;
        return [counted, seconds];
    }

    private static async Task<double[]> LargeBufferAsync(SharedMemoryWorker store, Phase phase)
    {
        var value = new byte[1024 * 1024];
        Random.Shared.NextBytes(value);
        long moved = 0;
        double seconds = await phase.RunAsync(async measured =>
        {
            value[0]++;
            await store.SetAsync("blob", value);
            var back = await store.GetAsync<byte[]>("blob");
            if (back is null || !back.AsSpan().SequenceEqual(value))
            {
                throw new InvalidOperationException("The 1 MiB value came back different.");
            }

            if (measured)
            {
                moved += 2 * value.Length;
            }
        });

        return [moved / seconds / 1e6];
    }

    /// <summary>1 KB values to 1,000 keys under s/, 64 in flight, for the measured time.</summary>
    private static async Task<double[]> SlowWriterAsync(SharedMemoryWorker store, Phase phase)
    {
        var value = new string('v', 1000);
        long writes = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async _ =>
        {
            while (clock.Elapsed < phase.Measure)
            {
                await store.SetAsync($"s/{Interlocked.Increment(ref writes) % 1000}", value);
            }
        }));
        return [writes];
    }

    /// <summary>Latency of n/latency writes (each acknowledged before the next), then the rate of n/flood changes until n/end.</summary>
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
                case "n/warmup":
                case "n/latency":
                    // [sequence, the writer's timestamp just before its write]
                    var sent = change.GetValue<long[]>()!;
                    if (change.Key == "n/latency")
                    {
                        latencies.Add(Stopwatch.GetElapsedTime(sent[1]).TotalMicroseconds);
                    }

                    _ = store.SetAsync("ack", sent[0]).AsTask();
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
        return [Figures.Percentile(latencies, 50), Figures.Percentile(latencies, 99), flooded / Stopwatch.GetElapsedTime(firstFlood, ended).TotalSeconds];
    }

    /// <summary>Sets the flood keeps in flight: enough that the subscriber's rate is measured, not the writer's (with 64, the writer's round trips capped it near 180,000 a second).</summary>
    private const int FloodInFlight = 256;

    private static async Task<double[]> NotifyWriterAsync(SharedMemoryWorker store, Phase phase)
    {
        await SetEachWhenAcknowledgedAsync(store, phase, "n/");

        // The flood is warmed up by the phase above and a loop like the one of ops.
        long writes = 0;
        var flood = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, FloodInFlight).Select(async _ =>
        {
            while (flood.Elapsed < phase.Measure)
            {
                await store.SetAsync("n/flood", Interlocked.Increment(ref writes));
            }
        }));
        await store.SetAsync("n/end", writes);
        return [writes / flood.Elapsed.TotalSeconds];
    }

    /// <summary>
    /// Keeps a mirror of mr/: acknowledges each of the writer's timed sets when it shows in the mirror (staleness),
    /// then, once the writer is done, reads the hot key on one thread (the time of a read, in batches of 1,000) and on
    /// every thread (reads a second).
    /// </summary>
    private static async Task<double[]> MirrorReaderAsync(SharedMemoryWorker store, Phase phase)
    {
        var mirror = await store.MirrorAsync("mr/");
        var staleness = new List<double>();
        var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var acknowledging = mirror.Where(c => c.Kind == KeyChangeKind.Set).Subscribe(change =>
        {
            if (change.Key == "mr/end")
            {
                written.TrySetResult();
            }
            else if (change.Key is "mr/warmup" or "mr/latency")
            {
                // [sequence, the writer's timestamp just before its write]; readable in the mirror before this runs.
                var sent = change.GetValue<long[]>()!;
                if (change.Key == "mr/latency")
                {
                    staleness.Add(Stopwatch.GetElapsedTime(sent[1]).TotalMicroseconds);
                }

                _ = store.SetAsync("ack", sent[0]).AsTask();
            }
        });

        // Subscribed: the writer may start.
        _ = store.SetAsync("mirror-ready", true).AsTask();
        await written.Task;

        const int Batch = 1_000;
        var perRead = new List<double>();
        long sink = 0;
        await phase.RunAsync(measured =>
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < Batch; i++)
            {
                mirror.TryGet<HotValue>("mr/hot", out var value);
                sink += value!.Count;
            }

            if (measured)
            {
                perRead.Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds / Batch);
            }

            return Task.CompletedTask;
        });

        long reads = 0;
        var clock = Stopwatch.StartNew();
        var threads = Enumerable.Range(0, Environment.ProcessorCount).Select(_ => new Thread(() =>
        {
            long mine = 0;
            long sum = 0;
            while (clock.Elapsed < phase.Measure)
            {
                for (int i = 0; i < Batch; i++)
                {
                    mirror.TryGet<HotValue>("mr/hot", out var value);
                    sum += value!.Count;
                }

                mine += Batch;
            }

            Interlocked.Add(ref reads, mine);
            Interlocked.Add(ref sink, sum);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        double seconds = clock.Elapsed.TotalSeconds;
        GC.KeepAlive(sink);
        mirror.Dispose();
        return [Figures.Percentile(perRead, 50), reads / seconds, Figures.Percentile(staleness, 50), Figures.Percentile(staleness, 99)];
    }

    /// <summary>Sets mr/latency, one at a time, each once the reader's mirror has shown the one before.</summary>
    private static async Task<double[]> MirrorWriterAsync(SharedMemoryWorker store, Phase phase)
    {
        await store.Observe("mirror-ready").FirstAsync(c => c.HasValue);
        await SetEachWhenAcknowledgedAsync(store, phase, "mr/");
        await store.SetAsync("mr/end", true);
        return [];
    }

    /// <summary>
    /// Sets PREFIXwarmup, then PREFIXlatency, to [sequence, timestamp], one at a time through the phase, each once the
    /// subscriber has acknowledged the one before (by setting ack to its sequence).
    /// </summary>
    private static async Task SetEachWhenAcknowledgedAsync(SharedMemoryWorker store, Phase phase, string prefix)
    {
        // Hot, without replay: each wait subscribes before its write, so it cannot miss its ack.
        var acks = store.Observe("ack").Where(c => c.Kind == KeyChangeKind.Set).Select(c => c.GetValue<long>()).Publish();
        using (acks.Connect())
        {
            long sequence = 0;
            await phase.RunAsync(async measured =>
            {
                long next = ++sequence;
                var acked = acks.FirstAsync(a => a == next).ToTask();
                await store.SetAsync(prefix + (measured ? "latency" : "warmup"), new[] { next, Stopwatch.GetTimestamp() });
                await acked;
            });
        }
    }
}
