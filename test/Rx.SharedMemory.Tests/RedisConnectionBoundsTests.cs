using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// What one worker that does not read its answers can make a master on Redis hold: the engine answers later than the
/// master reads, so without a gate the master would read and start every request in the pipe and hold every answer.
/// </summary>
[Collection(nameof(Measurements))]
public sealed class RedisConnectionBoundsTests(ITestOutputHelper output) : WorkerProcessTestBase(TestEngine.Redis)
{
    [Fact]
    public async Task NonReadingFlood_OfLargeGets_HoldsMasterMemoryWithinTheBound_AndDropsNoAnswer()
    {
        // Gets of a value of 1 MB, written for as long as the master reads: 32 of them fill the bound. (Fewer than fill
        // the pipe between them would let the worker finish writing and start reading.)
        const int Requests = 100_000;
        long bound = new SharedMemoryOptions().MaxConnectionBufferBytes;
        await this.Master.Store.SetAsync("flood/value", new string('x', 1_000_000), this.TimeoutToken);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        using var paused = new ConnectionBoundsTests.FirstMeasurement("rx.sharedmemory.connection.read_pauses");
        var flood = await this.SpawnAsync("raw-flood", Requests.ToString(System.Globalization.CultureInfo.InvariantCulture));

        // The master stops reading once the answers fill the bound; the window lets any answer still coming land.
        await paused.Task.WaitAsync(this.TimeoutToken);
        await Task.Delay(TimeSpan.FromSeconds(2), this.TimeoutToken); // a measuring window, not a wait for something to happen
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        output.WriteLine($"master managed heap after a full collection {heapBefore >> 20} -> {heap >> 20} MiB; bound {bound >> 20} MiB");
        Assert.True(heap - heapBefore < bound + (24L << 20), $"master managed heap grew by {(heap - heapBefore) >> 20} MiB, over the bound of {bound >> 20} MiB plus 24 MiB");

        // Once the worker reads, every answer comes: none was dropped, and the master read on.
        Assert.Equal(0, ConnectionBoundsTests.kill(flood.Worker.Process.Id, ConnectionBoundsTests.SigCont));
        var counts = (await this.ReportAfterExitAsync(flood)).Single(l => l.StartsWith("written ", StringComparison.Ordinal)).Split(' ');
        output.WriteLine($"the flooding worker wrote {counts[1]} requests before it read, and got {counts[3]} answers");
        Assert.Equal(counts[1], counts[3]);
    }
}
