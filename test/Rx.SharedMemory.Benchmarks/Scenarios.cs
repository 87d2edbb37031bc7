using System.Diagnostics;
using System.Globalization;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.Benchmarks;

/// <summary>The master's side of each scenario: spawns the workers, starts them together, collects their figures.</summary>
internal static class Scenarios
{
    public static async Task GetRoundTripAsync(Figures figures, Phase phase)
    {
        await using var master = new SharedMemoryMaster();
        await master.Store.SetAsync("small", "a small value, 32 bytes of JSON");
        var results = await RunWorkersAsync(master, phase, "get-rtt");
        figures.Add("get_rtt_us_p50", results[0][0], "us");
        figures.Add("get_rtt_us_p99", results[0][1], "us");
    }

    public static async Task OperationsAsync(Figures figures, Phase phase)
    {
        await using var master = new SharedMemoryMaster();
        var results = await RunWorkersAsync(master, phase, "ops", "ops");
        figures.Add("ops_per_s", results.Sum(r => r[0] / r[1]), "ops/s");
    }

    public static async Task LargeBufferAsync(Figures figures, Phase phase)
    {
        await using var master = new SharedMemoryMaster(new SharedMemoryOptions { MaxValueBytes = 4 * 1024 * 1024 });
        var results = await RunWorkersAsync(master, phase, "buffer");
        figures.Add("buffer_1mib_mb_per_s", results[0][0], "MB/s");
    }

    public static async Task NotifyAsync(Figures figures, Phase phase)
    {
        await using var master = new SharedMemoryMaster();
        var results = await RunWorkersAsync(master, phase, "notify-subscriber", "notify-writer");
        figures.Add("notify_latency_us_p50", results[0][0], "us");
        figures.Add("notify_latency_us_p99", results[0][1], "us");
        figures.Add("notify_per_s", results[0][2], "changes/s");
    }

    /// <summary>
    /// Master memory while one subscriber never reads (stopped with SIGSTOP) and a writer sets 1 KB values of 1,000
    /// keys under its prefix for 10 s, 64 in flight: bounded by the change log and the subscriber's queue, not by time.
    /// </summary>
    public static async Task SlowSubscriberAsync(Figures figures)
    {
        await using var master = new SharedMemoryMaster();
        var subscriber = await master.SpawnWorkerAsync(WorkerStartInfo.ForThisProgram(["slow-subscriber", "0", "0"]));
        await master.Store.Observe($"ready/{subscriber.ProcessId}").FirstAsync(c => c.HasValue).ToTask();
        await SignalAsync(subscriber, "STOP");
        try
        {
            long before = GC.GetTotalMemory(forceFullCollection: true);
            var results = await RunWorkersAsync(master, new Phase(TimeSpan.Zero, TimeSpan.FromSeconds(10)), "slow-writer");
            long after = GC.GetTotalMemory(forceFullCollection: true);
            await Console.Error.WriteLineAsync($"the writer made {results[0][0]:F0} writes while the subscriber was stopped");
            figures.Add("slow_subscriber_master_mb", (after - before) / 1e6, "MB");
        }
        finally
        {
            await SignalAsync(subscriber, "CONT");
        }
    }

    public static async Task MasterBytesPerKeyAsync(Figures figures)
    {
        const int Keys = 1_000_000;
        await using var master = new SharedMemoryMaster();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        long payload = await FillAsync(master, Keys);
        long after = GC.GetTotalMemory(forceFullCollection: true);
        figures.Add("master_bytes_per_key", (after - before - payload) / (double)Keys, "bytes");
        GC.KeepAlive(master);
    }

    /// <summary>
    /// A worker's mirror of mr/: a typed read of a hot key (one thread, then every thread), and the time from a set in
    /// another worker to the value being readable in the mirror; then the bytes a mirror holds per key.
    /// </summary>
    public static async Task MirrorAsync(Figures figures, Phase phase)
    {
        await using (var master = new SharedMemoryMaster())
        {
            await master.Store.SetAsync("mr/hot", new HotValue("hot", 42, 0.5));
            var results = await RunWorkersAsync(master, phase, "mirror-reader", "mirror-writer");
            figures.Add("mirror_get_ns_p50", results[0][0], "ns");
            figures.Add("mirror_reads_per_s", results[0][1], "reads/s");
            figures.Add("mirror_staleness_us_p50", results[0][2], "us");
            figures.Add("mirror_staleness_us_p99", results[0][3], "us");
        }

        await MirrorBytesPerKeyAsync(figures);
    }

    /// <summary>
    /// The memory of a mirror of 1,000,000 small keys beyond their key and value bytes, measured in this process (a
    /// mirror of <c>master.Store</c> is the same structure as a worker's).
    /// </summary>
    public static async Task MirrorBytesPerKeyAsync(Figures figures)
    {
        await using var master = new SharedMemoryMaster();
        long payload = await FillAsync(master, 1_000_000);
        long before = GC.GetTotalMemory(forceFullCollection: true);
        using var mirror = await master.Store.MirrorAsync("key/");
        long after = GC.GetTotalMemory(forceFullCollection: true);
        figures.Add("mirror_bytes_per_key", (after - before - payload) / (double)mirror.Count, "bytes");
    }

    /// <summary>Sets key/0000000 and on to their numbers; returns their key and value bytes.</summary>
    private static async Task<long> FillAsync(SharedMemoryMaster master, int keys)
    {
        long payload = 0;
        for (int i = 0; i < keys; i++)
        {
            var key = string.Create(CultureInfo.InvariantCulture, $"key/{i:D7}");
            payload += (key.Length * sizeof(char)) + i.ToString(CultureInfo.InvariantCulture).Length;
            await master.Store.SetAsync(key, i);
        }

        return payload;
    }

    private static async Task SignalAsync(IWorker worker, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", worker.ProcessId.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>Spawns one worker per role, waits until all are ready, says go (with their number), and returns each one's results in role order.</summary>
    private static Task<double[][]> RunWorkersAsync(SharedMemoryMaster master, Phase phase, params string[] roles) =>
        RunWorkersAsync(master, phase, [.. roles.Select(role => (master, role))]);

    /// <summary>
    /// Spawns each role's worker on its master, then as above; the signals go through <paramref name="master"/>'s
    /// store, which every master of <paramref name="roles"/> shares.
    /// </summary>
    internal static async Task<double[][]> RunWorkersAsync(SharedMemoryMaster master, Phase phase, (SharedMemoryMaster Master, string Role)[] roles)
    {
        var workers = new List<IWorker>();
        foreach (var (owner, role) in roles)
        {
            workers.Add(await owner.SpawnWorkerAsync(WorkerStartInfo.ForThisProgram([role, .. phase.ToArguments()])));
        }

        foreach (var worker in workers)
        {
            await master.Store.Observe($"ready/{worker.ProcessId}").FirstAsync(c => c.HasValue).ToTask();
        }

        await master.Store.SetAsync("go", workers.Count);
        var results = new double[workers.Count][];
        for (int i = 0; i < workers.Count; i++)
        {
            int exitCode = await workers[i].Exited;
            if (exitCode != 0)
            {
                throw new InvalidOperationException($"The {roles[i].Role} worker exited with {exitCode}.");
            }

            results[i] = await master.Store.GetAsync<double[]>($"result/{workers[i].ProcessId}") ?? [];
        }

        return results;
    }
}
