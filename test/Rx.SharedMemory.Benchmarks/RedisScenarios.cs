using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Rx.SharedMemory.Redis;
using StackExchange.Redis;

namespace Rx.SharedMemory.Benchmarks;

/// <summary>
/// The Redis engine: a worker's get through its master, Redis's own GET round trip from this process as the baseline,
/// operations across two masters, and a change from a worker of one master to an observer on the other. Uses the
/// server RXSM_REDIS names (host:port), or starts redis-server on a free port and stops it by its process id.
/// </summary>
internal static class RedisScenarios
{
    public static async Task RunAsync(Figures figures, Phase phase)
    {
        Process? server = null;
        string configuration = Environment.GetEnvironmentVariable("RXSM_REDIS") ?? StartServer(out server);
        try
        {
            await BaselineAsync(figures, phase, configuration);

            var store = new RedisStoreOptions { Configuration = configuration, StoreName = $"bench-{Guid.NewGuid():N}" };
            await using (var master = await RedisSharedMemory.StartMasterAsync(store))
            {
                await master.Store.SetAsync("small", "a small value, 32 bytes of JSON");
                var results = await Scenarios.RunWorkersAsync(master, phase, [(master, "get-rtt")]);
                figures.Add("redis_get_rtt_us_p50", results[0][0], "us");
                figures.Add("redis_get_rtt_us_p99", results[0][1], "us");
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
        finally
        {
            if (server is not null)
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }
        }
    }

    /// <summary>Redis's own GET round trip from this process, one at a time: what a worker's get adds its pipe to.</summary>
    private static async Task BaselineAsync(Figures figures, Phase phase, string configuration)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(configuration);
        var db = redis.GetDatabase();
        await db.StringSetAsync("bench-baseline", "a small value, 32 bytes of JSON");
        var samples = new List<double>();
        await phase.RunAsync(async measured =>
        {
            long start = Stopwatch.GetTimestamp();
            await db.StringGetAsync("bench-baseline");
            if (measured)
            {
                samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            }
        });
        figures.Add("redis_baseline_rtt_us", Figures.Percentile(samples, 50), "us");
    }

    private static string StartServer(out Process? server)
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var directory = Directory.CreateTempSubdirectory("rxsm-bench-redis-").FullName;
        var startInfo = new ProcessStartInfo("redis-server") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var argument in (string[])["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", directory, "--appendonly", "yes", "--save", string.Empty])
        {
            startInfo.ArgumentList.Add(argument);
        }

        server = Process.Start(startInfo) ?? throw new InvalidOperationException("redis-server did not start; install it with 'apt-get install redis-server'.");
        while (server.StandardOutput.ReadLine() is { } line && !line.Contains("Ready to accept connections", StringComparison.Ordinal))
        {
        }

        _ = server.StandardOutput.BaseStream.CopyToAsync(Stream.Null); // drained, so that its log never blocks it
        return $"127.0.0.1:{port}";
    }
}
