using Rx.SharedMemory.Redis;
using Rx.SharedMemory.Tests;
using StackExchange.Redis;

namespace Rx.SharedMemory.Benchmarks;

/// <summary>
/// The Redis engine: a worker's get through its master, Redis's own GET round trip from this process as the baseline,
/// operations across two masters, and a change from a worker of one master to an observer on the other. On the
/// server the tests use (<see cref="RedisServer"/>): the one RXSM_REDIS names, or one started for the run.
/// </summary>
internal static class RedisScenarios
{
    public static async Task RunAsync(Figures figures, Phase phase)
    {
        string configuration = RedisServer.Shared.Configuration;
        await BaselineAsync(figures, phase, configuration);

        var store = new RedisStoreOptions { Configuration = configuration, StoreName = $"bench-{Guid.NewGuid():N}" };
        await StoreGetAsync(figures, phase, store);

        // A worker's get through its master: with the default options, and with no bound (plain commands, no function).
        foreach (var (named, bounds) in Bounds())
        {
            string name = $"redis_get_rtt{named}_us";
            store.StoreName = $"bench-{Guid.NewGuid():N}";
            await using var master = await RedisSharedMemory.StartMasterAsync(store, bounds);
            await master.Store.SetAsync("small", "a small value, 32 bytes of JSON");
            var results = await Scenarios.RunWorkersAsync(master, phase, [(master, "get-rtt")]);
            figures.Add($"{name}_p50", results[0][0], "us");
            figures.Add($"{name}_p99", results[0][1], "us");
        }

        store.StoreName = $"bench-{Guid.NewGuid():N}";
        await using (var first = await RedisSharedMemory.StartMasterAsync(store))
        await using (var second = await RedisSharedMemory.StartMasterAsync(store))
        {
            var results = await Scenarios.RunWorkersAsync(first, phase, [(first, "ops"), (second, "ops")]);
            figures.Add("redis_ops_per_s", results.Sum(r => r[0] / r[1]), "ops/s");
        }

        store.StoreName = $"bench-{Guid.NewGuid():N}";
        await using (var first = await RedisSharedMemory.StartMasterAsync(store))
        await using (var second = await RedisSharedMemory.StartMasterAsync(store))
        {
            var results = await Scenarios.RunWorkersAsync(first, phase, [(second, "notify-subscriber"), (first, "notify-writer")]);
            figures.Add("redis_notify_latency_us_p50", results[0][0], "us");
            figures.Add("redis_notify_latency_us_p99", results[0][1], "us");
            figures.Add("redis_notify_per_s", results[0][2], "changes/s");
        }
    }

    /// <summary>
    /// A get of the engine itself, in this process (a <see cref="RedisSharedStore"/>): what a worker's get through its
    /// master costs apart from the pipe and the master. With the default options (a bound that can evict: the get is a
    /// function call that records the use), and with no bound (three plain commands).
    /// </summary>
    private static async Task StoreGetAsync(Figures figures, Phase phase, RedisStoreOptions options)
    {
        foreach (var (named, bounds) in Bounds())
        {
            string name = $"redis_store_get{named}_us_p50";
            await using var store = await RedisSharedMemory.ConnectStoreAsync(options, bounds);
            await store.SetAsync("small", "a small value, 32 bytes of JSON");
            var samples = await phase.SampleAsync(() => store.GetAsync<string>("small").AsTask());
            figures.Add(name, Figures.Percentile(samples, 50), "us");
        }
    }

    /// <summary>
    /// The options a get is measured with, each with what its figures' names carry: the default (a bound that can evict,
    /// so a get is a function call that records the use), and no bound (a get is plain commands).
    /// </summary>
    private static (string Named, SharedMemoryOptions Options)[] Bounds() => [(string.Empty, new SharedMemoryOptions()), ("_unbounded", new SharedMemoryOptions { MaxBytes = null })];

    /// <summary>Redis's own GET round trip from this process, one at a time: what a worker's get adds its pipe to.</summary>
    private static async Task BaselineAsync(Figures figures, Phase phase, string configuration)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(configuration);
        var db = redis.GetDatabase();
        await db.StringSetAsync("bench-baseline", "a small value, 32 bytes of JSON");
        var samples = await phase.SampleAsync(() => db.StringGetAsync("bench-baseline"));
        figures.Add("redis_baseline_rtt_us", Figures.Percentile(samples, 50), "us");
    }
}
