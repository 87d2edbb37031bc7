using System.Reactive.Linq;

namespace Rx.SharedMemory.Tests;

/// <summary>Spawns the test worker program (Rx.SharedMemory.TestWorker) as real processes over real anonymous pipes.</summary>
public abstract class WorkerProcessTestBase : TestBase, IAsyncLifetime
{
    private readonly string reportDirectory = Directory.CreateTempSubdirectory("rxsm-test-").FullName;

    protected WorkerProcessTestBase(SharedMemoryOptions? options = null, TimeSpan? timeout = null)
        : base(timeout)
    {
        this.Master = new SharedMemoryMaster(options);
    }

    protected SharedMemoryMaster Master { get; }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await this.Master.DisposeAsync();
        Directory.Delete(this.reportDirectory, recursive: true);
    }

    /// <summary>Starts a test worker running <paramref name="scenario"/>; the returned report path holds what it saw.</summary>
    protected async Task<(IWorker Worker, string Report)> SpawnAsync(string scenario, params string[] arguments)
    {
        var report = Path.Combine(this.reportDirectory, $"{scenario}-{Guid.NewGuid():N}.txt");
        var startInfo = WorkerStartInfo.ForAssembly(
            Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"),
            [scenario, report, .. arguments]);
        var worker = await this.Master.SpawnWorkerAsync(startInfo, this.TimeoutToken);
        return (worker, report);
    }

    /// <summary>Starts a worker and waits until it has set ready/&lt;id&gt;.</summary>
    protected async Task<(IWorker Worker, string Report)> SpawnReadyAsync(string scenario, params string[] arguments)
    {
        // Subscribed before the spawn, so that the signal cannot be missed.
        var ready = this.Master.Changes.Where(c => c.Key.StartsWith("ready/", StringComparison.Ordinal)).Replay();
        using var connection = ready.Connect();
        var spawned = await this.SpawnAsync(scenario, arguments);
        await this.FirstAsync(ready, c => c.Key == $"ready/{spawned.Worker.Id}");
        return spawned;
    }
}
