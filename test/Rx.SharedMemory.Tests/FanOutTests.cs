using System.Runtime.InteropServices;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>A key with 100,000 subscriptions, rewritten without pause, must not hold up other workers' calls.</summary>
[Collection(nameof(Measurements))]
public sealed partial class FanOutTests(ITestOutputHelper output) : WorkerProcessTestBase(new SharedMemoryOptions { MaxSubscriptionsPerConnection = PerConnection }, timeout: TimeSpan.FromMinutes(3))
{
    private const int PerConnection = 25_000;
    private const int SigStop = 19;
    private const int SigCont = 18;
    private const int Rounds = 3;
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task KeyWith100000Subscriptions_BeingRewritten_DoesNotStallOtherWorkersCalls()
    {
        // Four connections of 25,000 subscriptions each (four workers start in a fraction of the time ten take on a
        // loaded machine), stopped so that every change conflates in their queues: the master's whole cost of a change
        // is its fan-out, 100,000 queued changes.
        int connections = 4;
        int perConnection = PerConnection;
        await this.Master.Store.SetAsync("hot", 0, this.TimeoutToken);
        var subscribers = new List<(IWorker Worker, string Report)>();
        try
        {
            // Started together: each one's 25,000 subscribes overlap the others' start-up.
            subscribers.AddRange(await Task.WhenAll(Enumerable.Range(0, connections).Select(_ =>
                this.SpawnReadyAsync("subscribe-hold", "hot", perConnection.ToString(System.Globalization.CultureInfo.InvariantCulture)))));
            foreach (var subscriber in subscribers)
            {
                Assert.Equal(0, kill(subscriber.Worker.Process.Id, SigStop));
            }

            // The same bystander throughout, its windows alternating between the writer stopped (what the machine's
            // own load costs: other processes come and go on it) and the writer rewriting the key without pause.
            var bystander = await this.SpawnReadyAsync("bystander", "bystander/calls", "20");
            var writer = await this.SpawnAsync("count", "hot", "100000000");
            await this.FirstAsync(this.Master.Store.Observe("hot"), c => c.Kind == KeyChangeKind.Set);
            long sets = 0;
            for (int round = 0; round < Rounds; round++)
            {
                Assert.Equal(0, kill(writer.Worker.Process.Id, SigStop));
                await this.Master.Store.SetAsync("bystander/calls/mark", $"before-quiet{round}", this.TimeoutToken);
                await Task.Delay(Window, this.TimeoutToken); // a measuring window, not a wait for something to happen
                await this.Master.Store.SetAsync("bystander/calls/mark", $"quiet{round}", this.TimeoutToken);
                long first = await this.Master.Store.GetAsync<long>("hot", this.TimeoutToken);
                Assert.Equal(0, kill(writer.Worker.Process.Id, SigCont));
                await Task.Delay(Window, this.TimeoutToken); // a measuring window, not a wait for something to happen
                await this.Master.Store.SetAsync("bystander/calls/mark", $"rewritten{round}", this.TimeoutToken);
                sets += await this.Master.Store.GetAsync<long>("hot", this.TimeoutToken) - first;
            }

            await this.Master.Store.SetAsync("bystander/calls/stop", true, this.TimeoutToken);
            var report = await this.ReportAfterExitAsync<BystanderScenario.Report>(bystander);
            writer.Worker.Kill();

            (long Calls, double Slowest, double P99) Measured(string name)
            {
                var windows = Enumerable.Range(0, Rounds).Select(round => report.Windows.Single(w => w.Name == $"{name}{round}")).ToArray();
                return (windows.Sum(w => w.Calls), windows.Max(w => w.SlowestMs), windows.Max(w => w.P99Ms));
            }

            var quiet = Measured("quiet");
            var rewritten = Measured("rewritten");
            output.WriteLine($"{connections * perConnection:N0} subscriptions of one key, rewritten {sets / (Rounds * Window.TotalSeconds):F0} times/s");
            output.WriteLine($"bystander with the writer stopped: {quiet.Calls} calls, p99 {quiet.P99} ms, the slowest {quiet.Slowest} ms; with it writing: {rewritten.Calls} calls, p99 {rewritten.P99} ms, the slowest {rewritten.Slowest} ms");
            // Handing 100,000 changes out per set takes one of the two cores while the writer runs, so the bystander shares
            // the other: measured 45-80% of its rate. With the changes handed out under the store's lock it kept 3%.
            Assert.True(rewritten.Calls >= quiet.Calls / 4, $"the bystander made {rewritten.Calls} calls while a key with {connections * perConnection} subscriptions was rewritten, {quiet.Calls} in as long without the writer");

            // Calls held behind fan-outs (each 10-25 ms, 38 a second) would be many: they show in the 99th percentile,
            // measured 2.1-2.4 ms without the writer and 4.6-6.4 ms with it. The slowest single call may meet a
            // collection of the master's heap, which the fan-out's changes fill (81 ms measured once, against 24
            // without the writer): it is bounded more loosely.
            Assert.True(rewritten.P99 < quiet.P99 + 25, $"a bystander's calls took {rewritten.P99} ms at the 99th percentile while a key with {connections * perConnection} subscriptions was rewritten, {quiet.P99} ms without the writer");
            Assert.True(rewritten.Slowest < quiet.Slowest + 250, $"a bystander's call took {rewritten.Slowest} ms while a key with {connections * perConnection} subscriptions was rewritten, {quiet.Slowest} ms at most without the writer");
        }
        finally
        {
            foreach (var subscriber in subscribers)
            {
                _ = kill(subscriber.Worker.Process.Id, SigCont);
                subscriber.Worker.Kill();
            }
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
