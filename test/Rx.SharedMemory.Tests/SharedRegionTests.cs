namespace Rx.SharedMemory.Tests;

/// <summary>
/// Large values travel through memory the master and the worker both map, and come out the same. In the
/// non-parallel collection, since the meter that counts those bytes is process-wide.
/// </summary>
[Collection(nameof(Measurements))]
public sealed class SharedRegionTests : TestBase
{
    private const int Count = 16;
    private const int Size = 40_000;

    /// <summary>A 40,000-byte array's JSON: base64 text and its quotes.</summary>
    private const long JsonBytes = ((Size + 2) / 3 * 4) + 2;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task LargeValues_ComeBackTheSame_ThroughSharedMemoryOrThePipe(bool throughSharedMemory)
    {
        using var moved = new InstrumentRecorder<long>("rx.sharedmemory.shared_region.bytes");

        // An area of 256 KiB holds only four of the sixteen values a pipelined batch of gets asks for: the others take the pipe.
        await using var master = new SharedMemoryMaster(new SharedMemoryOptions { MaxValueBytes = 256 * 1024, LargeValuesThroughSharedMemory = throughSharedMemory });
        var reportPath = Path.Combine(Path.GetTempPath(), $"rxsm-region-{Guid.NewGuid():N}.txt");
        var worker = await master.SpawnWorkerAsync(
            WorkerStartInfo.ForAssembly(Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"), ["large", reportPath, Count.ToString(), Size.ToString()]),
            this.TimeoutToken);

        var report = await this.ReportAfterExitAsync<LargeScenario.Report>((worker, reportPath));

        Assert.Equal(0, report.Mismatches);
        for (int i = 0; i < Count; i++)
        {
            var expected = new byte[Size];
            new Random((i * 7919) + 1).NextBytes(expected);
            Assert.Equal(expected, await master.Store.GetAsync<byte[]>($"large/{i}", this.TimeoutToken));
        }

        long toMaster = moved.Measurements.Where(m => m.Tag == "to_master").Sum(m => m.Value);
        long toWorker = moved.Measurements.Where(m => m.Tag == "to_worker").Sum(m => m.Value);
        if (throughSharedMemory)
        {
            // An anonymous memory file, reached through an inherited descriptor: nothing to leave behind.
            Assert.Equal("/memfd:rx-sharedmemory (deleted)", Assert.Single(report.Mapped));
            // Every set (two rounds), and at least the one-by-one gets plus four of each pipelined round.
            Assert.Equal(2 * Count * JsonBytes, toMaster);
            Assert.InRange(toWorker, (Count + 8) * JsonBytes, 3 * Count * JsonBytes);
        }
        else
        {
            Assert.Empty(report.Mapped);
            Assert.Equal(0, toMaster + toWorker);
        }
    }
}
