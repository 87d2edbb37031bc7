// The benchmark program. It is the master, and it spawns itself as the workers of each scenario.
// Usage: dotnet run -c Release --project test/Rx.SharedMemory.Benchmarks -- [--scenario NAME[,NAME...]] [--seconds N] [--warmup N]
// Each measurement runs for --seconds (default 3) after --warmup seconds (default 5) of the same work, so that the
// code is jitted at its final tier before it is timed: with 2 s, ops_per_s measured a third of its value after 6 s.
// Scenarios: pipe, get_rtt, ops, buffer, notify, memory, slow_subscriber, mirror, redis.
// Standard output carries only the figures, one per line as "name value unit"; progress goes to standard error.
using System.Globalization;
using Rx.SharedMemory;
using Rx.SharedMemory.Benchmarks;

if (SharedMemoryWorker.IsWorkerProcess)
{
    await using var store = await SharedMemoryWorker.ConnectAsync();
    await Workers.RunAsync(store, args);
    return 0;
}

if (args.Length > 0 && args[0] == PipeBaseline.EchoArgument)
{
    await PipeBaseline.EchoAsync(args);
    return 0;
}

HashSet<string>? only = null;
double seconds = 3;
double warmupSeconds = 5;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--scenario":
            only = [.. args[++i].Split(',')];
            break;
        case "--seconds":
            seconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
            break;
        case "--warmup":
            warmupSeconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
            break;
        default:
            Console.Error.WriteLine($"Unknown argument '{args[i]}'. Usage: [--scenario NAME[,NAME...]] [--seconds N] [--warmup N]");
            return 2;
    }
}

var phase = new Phase(TimeSpan.FromSeconds(warmupSeconds), TimeSpan.FromSeconds(seconds));
var figures = new Figures();
var scenarios = new (string Name, Func<Task> Run)[]
{
    ("pipe", () => PipeBaseline.RunAsync(figures, phase)),
    ("get_rtt", () => Scenarios.GetRoundTripAsync(figures, phase)),
    ("ops", () => Scenarios.OperationsAsync(figures, phase)),
    ("buffer", () => Scenarios.LargeBufferAsync(figures, phase)),
    ("notify", () => Scenarios.NotifyAsync(figures, phase)),
    ("memory", () => Scenarios.MasterBytesPerKeyAsync(figures)),
    ("slow_subscriber", () => Scenarios.SlowSubscriberAsync(figures)),
    ("mirror", () => Scenarios.MirrorAsync(figures, phase)),
    ("redis", () => RedisScenarios.RunAsync(figures, phase)),
};

foreach (var (name, run) in scenarios)
{
    if (only is null || only.Contains(name))
    {
        Console.Error.WriteLine($"scenario {name}...");
        await run();
    }
}

if (figures.TryGet("redis_baseline_rtt_us", out var redisBaseline) && figures.TryGet("pipe_rtt_us", out var pipeRttForRedis))
{
    foreach (var (rttName, ratioName) in new[] { ("redis_get_rtt_us_p50", "redis_get_over_baseline"), ("redis_get_rtt_unbounded_us_p50", "redis_get_unbounded_over_baseline") })
    {
        if (figures.TryGet(rttName, out var redisRtt))
        {
            figures.Add(ratioName, redisRtt / (pipeRttForRedis + redisBaseline), "ratio");
        }
    }
}

if (figures.TryGet("get_rtt_us_p50", out var rtt) && figures.TryGet("pipe_rtt_us", out var pipeRtt))
{
    figures.Add("get_rtt_over_pipe_rtt", rtt / pipeRtt, "ratio");
}

if (figures.TryGet("get_rtt_us_p50", out var getRtt) && figures.TryGet("mirror_get_ns_p50", out var mirrorGet))
{
    figures.Add("get_rtt_over_mirror_get", getRtt * 1000 / mirrorGet, "ratio");
}

if (figures.TryGet("buffer_1mib_mb_per_s", out var buffer) && figures.TryGet("pipe_mb_per_s", out var pipe))
{
    figures.Add("buffer_over_pipe_bandwidth", buffer / pipe, "ratio");
}

return 0;
