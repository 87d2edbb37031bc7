using System.Diagnostics;
using System.Runtime.InteropServices;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// What one worker can make the master hold for its connection, with the default bound. The change log is kept short
/// (it has a bound of its own), so that the bystander's commits do not blur the connection's figure.
/// </summary>
[Collection(nameof(Measurements))]
public sealed partial class ConnectionBoundsTests(ITestOutputHelper output) : WorkerProcessTestBase(new SharedMemoryOptions { ChangeLogCapacity = 1_000 })
{
    internal const int SigCont = 18;
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(3);

    [Fact]
    public async Task NonReadingFlood_HoldsMasterMemoryWithinTheBound_KeepsOthersRunning_AndDropsNoAnswer()
    {
        const int Requests = 1_000_000;
        long bound = new SharedMemoryOptions().MaxConnectionBufferBytes;

        // Each answer carries a value of 1,000 characters: about 30,000 of them fill the bound.
        await this.Master.Store.SetAsync("flood/value", new string('x', 1000), this.TimeoutToken);
        var bystander = await this.SpawnReadyAsync("bystander", "bystander/calls");
        await this.RateAsync("bystander/calls"); // warm-up: both ends compiled and settled before the rate counts
        double rateBefore = await this.RateAsync("bystander/calls");

        GC.Collect();
        GC.WaitForPendingFinalizers();
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        ResetPeakResident();
        long residentBefore = Resident("VmRSS");

        using var paused = new FirstMeasurement("rx.sharedmemory.connection.read_pauses");
        var flood = await this.SpawnAsync("raw-flood", Requests.ToString(System.Globalization.CultureInfo.InvariantCulture));
        long callsAtStart = await this.Master.Store.GetAsync<long>("bystander/calls", this.TimeoutToken);
        var clock = Stopwatch.StartNew();

        // The master stops reading the worker once its answers fill the bound; measured over at least the window.
        await paused.Task.WaitAsync(this.TimeoutToken);
        var untilPaused = clock.Elapsed;
        if (clock.Elapsed < Window)
        {
            await Task.Delay(Window - clock.Elapsed, this.TimeoutToken); // a measuring window, not a wait for something to happen
        }

        double rateDuring = (await this.Master.Store.GetAsync<long>("bystander/calls", this.TimeoutToken) - callsAtStart) / clock.Elapsed.TotalSeconds;
        long peakResident = Resident("VmHWM");
        long resident = Resident("VmRSS");
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        double rateHeld = await this.RateAsync("bystander/calls");

        output.WriteLine($"bound {bound >> 20} MiB; the master stopped reading the flooding worker {untilPaused.TotalSeconds:F1} s after it started");
        output.WriteLine($"master resident {residentBefore >> 20} -> {resident >> 20} MiB (peak {peakResident >> 20} MiB: +{(peakResident - residentBefore) >> 20} MiB); managed heap after a full collection {heapBefore >> 20} -> {heap >> 20} MiB");
        output.WriteLine($"bystander {rateBefore:F0} calls/s before the flood, {rateDuring:F0} calls/s from its start over {clock.Elapsed.TotalSeconds:F1} s, {rateHeld:F0} calls/s while it is held");
        Assert.True(peakResident - residentBefore < bound + Slack, $"master resident memory grew by {(peakResident - residentBefore) >> 20} MiB at its peak, over the bound of {bound >> 20} MiB plus {Slack >> 20} MiB");
        Assert.True(heap - heapBefore < bound + Slack, $"master managed heap grew by {(heap - heapBefore) >> 20} MiB");
        Assert.True(rateDuring >= rateBefore / 2, $"the bystander made {rateDuring:F0} calls/s during the flood, {rateBefore:F0} before");
        Assert.True(rateHeld >= rateBefore / 2, $"the bystander made {rateHeld:F0} calls/s while the flood was held, {rateBefore:F0} before");

        // Once the worker reads, it stops writing and every answer comes: none was dropped.
        Assert.Equal(0, kill(flood.Worker.Process.Id, SigCont));
        var floodReport = await this.ReportAfterExitAsync(flood);
        var counts = floodReport.Single(l => l.StartsWith("written ", StringComparison.Ordinal)).Split(' ');
        output.WriteLine($"the flooding worker wrote {counts[1]} requests before it read, and got {counts[3]} answers");
        Assert.Equal(counts[1], counts[3]);
        Assert.True(int.Parse(counts[1], System.Globalization.CultureInfo.InvariantCulture) < Requests, "the master read every request of a worker that read no answer");

        await this.Master.Store.SetAsync("bystander/calls/stop", true, this.TimeoutToken);
        var seen = await this.ReportAfterExitAsync<BystanderScenario.Report>(bystander);
        output.WriteLine($"bystander: {seen.Calls} calls, the slowest since the last mark {seen.SlowestMs:F1} ms");
    }

    /// <summary>
    /// What the master may hold beyond the bound: the runtime's own growth while it serves the flood (the collector's
    /// allocation budget for the requests' objects, the thread pool), the reader's 256 KiB, one answer. Measured: the
    /// whole growth was 32-34 MiB with the bound at 32 MiB; a third of the bound leaves room for a loaded machine.
    /// </summary>
    private const long Slack = 24L * 1024 * 1024;

    /// <summary>Increments per second of <paramref name="key"/> over <see cref="Window"/>, as the master sees them.</summary>
    private async Task<double> RateAsync(string key)
    {
        long first = await this.Master.Store.GetAsync<long>(key, this.TimeoutToken);
        var clock = Stopwatch.StartNew();
        await Task.Delay(Window, this.TimeoutToken); // a measuring window, not a wait for something to happen
        long last = await this.Master.Store.GetAsync<long>(key, this.TimeoutToken);
        return (last - first) / clock.Elapsed.TotalSeconds;
    }

    /// <summary>A line of /proc/self/status in bytes.</summary>
    private static long Resident(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Resets VmHWM to the current resident size (Linux 4.0 and later), so that the peak is this test's.</summary>
    private static void ResetPeakResident() => File.WriteAllText("/proc/self/clear_refs", "5");

    /// <summary>Completes at the first measurement of one of the library's instruments.</summary>
    internal sealed class FirstMeasurement : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener listener = new();
        private readonly TaskCompletionSource first = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public FirstMeasurement(string instrumentName)
        {
            this.listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == SharedMemoryMetrics.MeterName && instrument.Name == instrumentName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            this.listener.SetMeasurementEventCallback<long>((_, _, _, _) => this.first.TrySetResult());
            this.listener.Start();
        }

        public Task Task => this.first.Task;

        public void Dispose() => this.listener.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int kill(int pid, int signal);
}
