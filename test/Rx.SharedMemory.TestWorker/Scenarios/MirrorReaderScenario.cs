using System.Collections.Concurrent;
using System.Text;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// mirror-reader SEED [CAPACITY MAXBYTES]: keeps a mirror of m/ and reads random keys of it in 2 loops until m/end
/// is in it; checks that the versions each loop reads of a key never go back; then reports what it read, how many
/// changes the mirror saw conflated, and its final state. With CAPACITY and MAXBYTES, the worker's queue for its
/// observers is that small.
/// </summary>
internal sealed class MirrorReaderScenario : Scenario<MirrorReaderScenario.Report>
{
    public override SharedMemoryWorkerOptions? WorkerOptions(ScenarioArguments arguments) => arguments.ObserverQueueBounds();

    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int seed = arguments.Int(0);
        using var mirror = await store.MirrorAsync("m/", timeout);
        long skipped = 0;
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = mirror.Subscribe(change =>
        {
            Interlocked.Add(ref skipped, change.SkippedVersions);
            if (change.Key == "m/end")
            {
                ended.TrySetResult();
            }
        });
        if (mirror.TryGetJson("m/end", out _, out _))
        {
            ended.TrySetResult();
        }

        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        var reads = new ConcurrentDictionary<MirrorRead, bool>();
        var failures = new ConcurrentQueue<string>();
        long count = 0;
        await Task.WhenAll(Enumerable.Range(0, 2).Select(loop => Task.Run(
            async () =>
            {
                var random = new Random((seed * 31) + loop);
                var last = new Dictionary<string, long>();
                while (!ended.Task.IsCompleted)
                {
                    for (int i = 0; i < 200; i++)
                    {
                        string key = random.Next(21) == 20 ? "m/n" : $"m/k{random.Next(20)}";
                        if (mirror.TryGetEntry<long>(key, out var read))
                        {
                            reads.TryAdd(new MirrorRead(key, read.Version, read.Value), true);
                            if (read.Version < last.GetValueOrDefault(key))
                            {
                                failures.Enqueue($"{key} read at v{read.Version} after v{last[key]}");
                            }

                            last[key] = read.Version;
                        }
                    }

                    Interlocked.Add(ref count, 200);

                    // Two cores are shared with the writers and the master: reads leave them room.
                    await Task.Delay(1, timeout);
                }
            },
            timeout)));

        var state = mirror.Keys.Order(StringComparer.Ordinal).Select(key =>
        {
            mirror.TryGetJson(key, out var json, out long version);
            return new StateEntry(key, version, Encoding.UTF8.GetString(json.Span));
        });
        return new Report(Interlocked.Read(ref count), [.. reads.Keys], [.. failures.Take(20)], failures.Count, Interlocked.Read(ref skipped), mirror.Version, mirror.Count, [.. state]);
    }

    /// <param name="Key">The key.</param>
    /// <param name="Version">Its version in the mirror.</param>
    /// <param name="Json">Its value's JSON.</param>
    internal sealed record StateEntry(string Key, long Version, string Json);

    /// <param name="ReadCount">How many reads the loops made.</param>
    /// <param name="Reads">Every distinct key, version and value read.</param>
    /// <param name="Failures">The first reads that went back.</param>
    /// <param name="FailureCount">How many there were.</param>
    /// <param name="Skipped">The sum of the skipped versions of the changes the mirror applied.</param>
    /// <param name="Version">The mirror's version at the end.</param>
    /// <param name="Count">The mirror's count at the end.</param>
    /// <param name="State">The mirror's keys at the end.</param>
    internal sealed record Report(long ReadCount, MirrorRead[] Reads, string[] Failures, int FailureCount, long Skipped, long Version, int Count, StateEntry[] State);
}
