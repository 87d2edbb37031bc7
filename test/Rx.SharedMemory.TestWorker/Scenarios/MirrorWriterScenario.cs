namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// mirror-writer SEED WRITES: keeps a mirror of m/ and, in 2 loops, makes WRITES random writes under it (sets of
/// m/k&lt;0..19&gt;, deletes, compare-and-sets, increments of m/n); after each, reads the key through its mirror and
/// checks that it reflects the write or a later one (or reports the key absent, for the test to find a later deletion).
/// </summary>
internal sealed class MirrorWriterScenario : Scenario<MirrorWriterScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int seed = arguments.Int(0);
        int total = arguments.Int(1);
        using var mirror = await store.MirrorAsync("m/", timeout);
        var reads = new List<MirrorRead>();
        var absent = new List<MirrorRead>();
        var failures = new List<string>();
        int issued = 0;
        await Task.WhenAll(Enumerable.Range(0, 2).Select(loop => Task.Run(
            async () =>
            {
                var random = new Random((seed * 31) + loop);
                while (Interlocked.Increment(ref issued) <= total)
                {
                    string key = $"m/k{random.Next(20)}";
                    int choice = random.Next(10);
                    if (choice == 0)
                    {
                        long before = mirror.TryGetEntry<long>(key, out var held) ? held.Version : 0;
                        if (await store.DeleteAsync(key, timeout) && mirror.TryGetEntry<long>(key, out var after) && after.Version <= before)
                        {
                            Fail($"{key} deleted after v{before}, still read at v{after.Version}");
                        }
                    }
                    else if (choice == 1)
                    {
                        var sum = await store.IncrementAsync("m/n", 1, timeout);
                        Check("m/n", sum.Version, sum.Value);
                    }
                    else if (choice == 2)
                    {
                        long expected = mirror.TryGetEntry<long>(key, out var held) ? held.Version : 0;
                        long value = random.Next(1000);
                        var result = await store.CompareAndSetAsync(key, expected, value, cancellationToken: timeout);
                        if (result.Succeeded)
                        {
                            Check(key, result.Version, value);
                        }
                    }
                    else
                    {
                        long value = random.Next(1000);
                        Check(key, await store.SetAsync(key, value, timeout), value);
                    }
                }
            },
            timeout)));

        lock (failures)
        {
            return new Report(reads.Count, [.. failures.Take(20)], failures.Count, [.. reads], [.. absent]);
        }

        void Check(string key, long version, long value)
        {
            if (!mirror.TryGetEntry<long>(key, out var read))
            {
                // Right only if another write deleted it since: the test checks that against the record.
                lock (failures)
                {
                    absent.Add(new MirrorRead(key, version, value));
                }

                return;
            }

            lock (failures)
            {
                reads.Add(new MirrorRead(key, read.Version, read.Value));
            }

            if (read.Version < version || (read.Version == version && read.Value != value))
            {
                Fail($"{key} written at v{version} = {value}, read at v{read.Version} = {read.Value}");
            }
        }

        void Fail(string failure)
        {
            lock (failures)
            {
                failures.Add(failure);
            }
        }
    }

    /// <param name="Checked">How many own writes were read back.</param>
    /// <param name="Failures">The first failures to read a write back.</param>
    /// <param name="FailureCount">How many there were.</param>
    /// <param name="Reads">What the checks read.</param>
    /// <param name="Absent">The writes (key, version, value) whose key the mirror then held no more.</param>
    internal sealed record Report(int Checked, string[] Failures, int FailureCount, MirrorRead[] Reads, MirrorRead[] Absent);
}
