using System.Diagnostics;
using System.Text.Json;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A worker in another language, written from docs/protocol.md alone (docs/examples/node-worker.js), works with a
/// real master over real pipes, and exits on its own when it is done.
/// </summary>
public sealed class NodeWorkerTests : WorkerProcessTestBase
{
    [Fact]
    public async Task NodeWorker_ReadsWritesObserves_AndExitsCleanly()
    {
        await this.Master.Store.SetAsync("node/in", 21, this.TimeoutToken);
        var ready = this.FirstAsync(this.Master.Changes, c => c.Key == "node/ready");
        var startInfo = new ProcessStartInfo(FindNode(), Path.Combine(AppContext.BaseDirectory, "node-worker.js")) { UseShellExecute = false };

        var worker = await this.Master.SpawnWorkerAsync(startInfo, this.TimeoutToken);
        await ready;
        long signal = await this.Master.Store.SetAsync("node/signal", "go", this.TimeoutToken);
        int exitCode = await worker.Exited.WaitAsync(this.TimeoutToken);

        Assert.Equal(0, exitCode);
        var output = await this.Master.Store.GetAsync<JsonElement>("node/out", this.TimeoutToken);
        Assert.Equal(worker.Id, output.GetProperty("from").GetInt32());
        Assert.Equal(42, output.GetProperty("doubled").GetInt32());
        Assert.Equal(-32012, await this.Master.Store.GetAsync<int>("node/error", this.TimeoutToken));
        Assert.Equal(signal, await this.Master.Store.GetAsync<long>("node/seen", this.TimeoutToken));
    }

    private static string FindNode()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator)
            .Select(directory => Path.Combine(directory, "node"))
            .FirstOrDefault(File.Exists);
        return path ?? throw new InvalidOperationException("This test runs a worker written in Node.js and needs 'node' on PATH: install it with 'apt-get install nodejs' (.ci/run does).");
    }
}
