using System.Runtime.InteropServices;
using Rx.SharedMemory.TestWorker.Scenarios;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Mirrors in worker processes against the master's commit record: random writers read their own writes, readers
/// read only committed values and never go back, and every mirror ends equal to the store, with subscriber queues so
/// small that changes conflate, and with a reader stopped (SIGSTOP) while the others write.
/// </summary>
[Collection(nameof(Measurements))]
public abstract partial class MirrorTests(TestEngine engine, ITestOutputHelper output)
    : WorkerProcessTestBase(engine, new SharedMemoryOptions { SubscriberQueueCapacity = 4, SubscriberQueueMaxBytes = 64 * 1024 })
{
    private const int SigStop = 19;
    private const int SigCont = 18;

    [Fact]
    public async Task RandomWritersAndReaders_ReadCommittedValuesOnly_NeverGoBack_ReadTheirOwnWrites_AndEndEqualToTheStore()
    {
        // Every change, individually: the record reads are checked against must not conflate.
        var commits = new List<KeyChange>();
        using var recording = this.Master.ObserveChanges().Subscribe(c =>
        {
            lock (commits)
            {
                commits.Add(c);
            }
        });
        await this.Master.Store.SetAsync("m/k0", 0, this.TimeoutToken);
        var readers = new[]
        {
            await this.SpawnReadyAsync("mirror-reader", "1"),
            await this.SpawnReadyAsync("mirror-reader", "2", "8", "16384"),
            await this.SpawnReadyAsync("mirror-reader", "3"),
        };
        var stopped = readers[2].Worker.Process.Id;
        Assert.Equal(0, kill(stopped, SigStop));
        MirrorWriterScenario.Report[] writes;
        try
        {
            var writers = new[] { await this.SpawnAsync("mirror-writer", "1", "2000"), await this.SpawnAsync("mirror-writer", "2", "2000") };
            writes = [await this.ReportAfterExitAsync<MirrorWriterScenario.Report>(writers[0]), await this.ReportAfterExitAsync<MirrorWriterScenario.Report>(writers[1])];
        }
        finally
        {
            Assert.Equal(0, kill(stopped, SigCont));
        }

        await this.Master.Store.SetAsync("m/end", true, this.TimeoutToken);
        var reads = new List<MirrorReaderScenario.Report>();
        foreach (var reader in readers)
        {
            reads.Add(await this.ReportAfterExitAsync<MirrorReaderScenario.Report>(reader));
        }

        KeyChange[] record;
        lock (commits)
        {
            record = [.. commits];
        }

        // Committed: each key and version read is in the record, with the value read.
        var committed = record.Where(c => c.HasValue).ToDictionary(c => (c.Key, c.Version), c => c.Value.GetRawText());
        foreach (var read in reads.SelectMany(r => r.Reads).Concat(writes.SelectMany(w => w.Reads)))
        {
            Assert.True(committed.TryGetValue((read.Key, read.Version), out var value) && value == $"{read.Value}", $"{read} was not committed");
        }

        foreach (var write in writes)
        {
            Assert.True(write.FailureCount == 0, $"{write.FailureCount} own writes not read back: {string.Join("; ", write.Failures)}");
            Assert.True(write.Checked > 1000, $"only {write.Checked} own writes read back");
            foreach (var gone in write.Absent)
            {
                Assert.True(record.Any(c => c.Key == gone.Key && !c.Exists && c.Version > gone.Version), $"{gone.Key} written at v{gone.Version}, then absent from its writer's mirror with no deletion after it");
            }
        }

        // The store's final state, from the record, against each reader's mirror.
        var final = new Dictionary<string, KeyChange>();
        foreach (var change in record.Where(c => c.Key.StartsWith("m/", StringComparison.Ordinal)))
        {
            final[change.Key] = change;
        }

        var expected = final.Values.Where(c => c.Exists).OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => new MirrorReaderScenario.StateEntry(c.Key, c.Version, c.Value.GetRawText())).ToArray();
        foreach (var (read, index) in reads.Select((r, i) => (r, i)))
        {
            output.WriteLine($"reader {index + 1}: {read.ReadCount} reads, {read.Reads.Length} distinct, {read.Skipped} versions skipped by conflation, version {read.Version}");
            Assert.True(read.FailureCount == 0, $"reader {index + 1} went back {read.FailureCount} times: {string.Join("; ", read.Failures)}");
            Assert.Equal(expected, read.State);
            Assert.Equal((final["m/end"].Version, expected.Length), (read.Version, read.Count));
            if (index != 2)
            {
                // The stopped reader reads only from SIGCONT until m/end reaches it: its backlog may all be
                // applied before its loops run, leaving one value a key. The other two read while writers wrote.
                Assert.True(read.Reads.Length > 50, $"reader {index + 1} read only {read.Reads.Length} distinct values");
            }
        }

        Assert.True(reads[2].Skipped > 0, "the stopped reader's stream conflated nothing: the test proves nothing");
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}

/// <summary>Mirrors of a store in the embedded engine.</summary>
public sealed class MirrorTestsInMemory(ITestOutputHelper output) : MirrorTests(TestEngine.Memory, output);

/// <summary>Mirrors of a store kept in Redis: the same mirror, built on the same public streams.</summary>
public sealed class MirrorTestsRedis(ITestOutputHelper output) : MirrorTests(TestEngine.Redis, output);
