using System.Reactive.Linq;
using Rx.SharedMemory.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>Spawns the test worker program (Rx.SharedMemory.TestWorker) as real processes over real anonymous pipes.</summary>
public abstract class WorkerProcessTestBase : TestBase, IAsyncLifetime
{
    // Every call of a worker of a master on Redis is two round trips more (the script, and its change read back), on
    // the same two cores: the guard against a hang is longer, and speed is the benchmark's business.
    private static readonly TimeSpan RedisTimeout = TimeSpan.FromMinutes(3);

    private readonly string reportDirectory = Directory.CreateTempSubdirectory("rxsm-test-").FullName;

    private readonly TestEngine engine;
    private readonly SharedMemoryOptions? options;

    /// <param name="options">The master's settings.</param>
    /// <param name="timeout">How long the whole test may take; <see cref="TestBase.UnexpectedTimeout"/> when null.</param>
    protected WorkerProcessTestBase(SharedMemoryOptions? options = null, TimeSpan? timeout = null)
        : base(timeout)
    {
        this.Master = new SharedMemoryMaster(options);
    }

    /// <param name="engine">Which engine the master keeps its store in.</param>
    /// <param name="options">The master's settings.</param>
    private protected WorkerProcessTestBase(TestEngine engine, SharedMemoryOptions? options = null)
        : base(engine == TestEngine.Redis ? RedisTimeout : null)
    {
        this.engine = engine;
        this.options = options;
    }

    /// <summary>Gets which engine the master keeps its store in: a test starting a master of its own starts it over the same.</summary>
    private protected TestEngine Engine => this.engine;

    /// <summary>Gets the master, from the test's constructor on, or once xunit has initialized the test for one given an engine.</summary>
    protected SharedMemoryMaster Master { get; private set; } = null!;

    /// <summary>Gets where the store lives when the engine is Redis, for tests that start more masters on it.</summary>
    private protected RedisStoreOptions? RedisStore { get; private set; }

    /// <summary>Where the master keeps its store when the engine is Redis: a new store on the shared server, unless overridden.</summary>
    private protected virtual RedisStoreOptions CreateRedisStore() => NewRedisStore();

    public async Task InitializeAsync()
    {
        if (this.engine == TestEngine.Redis)
        {
            this.RedisStore = this.CreateRedisStore();
            this.Master = await RedisSharedMemory.StartMasterAsync(this.RedisStore, this.options, cancellationToken: this.TimeoutToken);
        }

        this.Master ??= await this.StartMasterAsync(this.engine, this.options);
    }

    public async Task DisposeAsync()
    {
        await this.Master.DisposeAsync();
        Directory.Delete(this.reportDirectory, recursive: true);
    }

    /// <summary>Starts a test worker running <paramref name="scenario"/>; the returned report path holds what it saw.</summary>
    protected Task<(IWorker Worker, string Report)> SpawnAsync(string scenario, params string[] arguments) => this.SpawnOnAsync(this.Master, scenario, arguments);

    /// <summary>Starts a test worker of <paramref name="master"/> running <paramref name="scenario"/>.</summary>
    protected async Task<(IWorker Worker, string Report)> SpawnOnAsync(SharedMemoryMaster master, string scenario, params string[] arguments)
    {
        var report = Path.Combine(this.reportDirectory, $"{scenario}-{Guid.NewGuid():N}.txt");
        var startInfo = WorkerStartInfo.ForAssembly(
            Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"),
            [scenario, report, .. arguments]);
        var worker = await master.SpawnWorkerAsync(startInfo, this.TimeoutToken);
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

    /// <summary>
    /// Runs two chaos writers (4,000 random writes each) against two chaos subscribers, then returns the master's
    /// record of every change committed before the end marker, with the subscribers' reports.
    /// </summary>
    /// <param name="subscriberArguments">What each subscriber takes after its seed (its queue bounds and observer delay).</param>
    private protected async Task<(KeyChange[] Record, ChaosSubscriberScenario.Report[] Reports)> RunChaosAsync(params string[] subscriberArguments)
    {
        // Every change, individually: the record the streams are checked against must not conflate.
        var commits = new List<KeyChange>();
        using var recording = this.Master.ObserveChanges().Subscribe(c =>
        {
            lock (commits)
            {
                commits.Add(c);
            }
        });
        await this.Master.Store.SetAsync("chaos/end", false, this.TimeoutToken);
        var subscribers = new[] { await this.SpawnReadyAsync("chaos-subscriber", ["1", .. subscriberArguments]), await this.SpawnReadyAsync("chaos-subscriber", ["2", .. subscriberArguments]) };
        var writers = new[] { await this.SpawnAsync("chaos-writer", "1", "4000"), await this.SpawnAsync("chaos-writer", "2", "4000") };
        foreach (var writer in writers)
        {
            await this.ReportAfterExitAsync(writer);
        }

        return await this.EndChaosAsync(subscribers, commits);
    }

    /// <summary>
    /// Ends the chaos subscribers (chaos/end set to true) and returns, with their reports, the commits
    /// <paramref name="commits"/> recorded before the end marker.
    /// </summary>
    private protected async Task<(KeyChange[] Record, ChaosSubscriberScenario.Report[] Reports)> EndChaosAsync(IEnumerable<(IWorker Worker, string Report)> subscribers, List<KeyChange> commits)
    {
        long endVersion = await this.Master.Store.SetAsync("chaos/end", true, this.TimeoutToken);
        var reports = new List<ChaosSubscriberScenario.Report>();
        foreach (var subscriber in subscribers)
        {
            reports.Add(await this.ReportAfterExitAsync<ChaosSubscriberScenario.Report>(subscriber));
        }

        lock (commits)
        {
            return ([.. commits.Where(c => c.Version < endVersion)], [.. reports]);
        }
    }
}
