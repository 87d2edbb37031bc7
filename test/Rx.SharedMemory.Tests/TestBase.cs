using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Redis;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>Timeouts for every await, so that no test can hang.</summary>
public abstract class TestBase
{
    /// <summary>How long anything that should happen may take, generous for a loaded two-core machine.</summary>
    protected static readonly TimeSpan UnexpectedTimeout = Debugger.IsAttached ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(60);

    private readonly CancellationTokenSource timeout;

    /// <param name="timeout">How long the whole test may take; <see cref="UnexpectedTimeout"/> when null.</param>
    protected TestBase(TimeSpan? timeout = null) =>
        this.timeout = new(Debugger.IsAttached ? Timeout.InfiniteTimeSpan : timeout ?? UnexpectedTimeout);

    /// <summary>Starts a master over <paramref name="engine"/>; with Redis, on a store of its own on the run's server.</summary>
    private protected async Task<SharedMemoryMaster> StartMasterAsync(TestEngine engine, SharedMemoryOptions? options = null) => engine switch
    {
        TestEngine.Memory => new SharedMemoryMaster(options),
        TestEngine.Deferred => new SharedMemoryMaster(options, null, static (o, m) => new DeferredEngine(new MemoryEngine(o, m))),
        _ => await RedisSharedMemory.StartMasterAsync(NewRedisStore(), options, cancellationToken: this.TimeoutToken),
    };

    /// <summary>A worker's connection to <paramref name="engine"/>, called directly, past its <c>hello</c>.</summary>
    private protected static WorkerConnection GreetedConnection(IStoreEngine engine, ChangeOutbox outbox, SharedMemoryOptions options)
    {
        var connection = new WorkerConnection(engine, outbox, options, 1, region: null, NullLogger.Instance);
        connection.OnHello(RpcMethods.ProtocolVersion, Environment.ProcessId);
        return connection;
    }

    /// <summary>
    /// A new store of its own on the shared server. The client's timeout is 20 s by default, not StackExchange.Redis's
    /// 5 s: on two cores shared with the whole suite, a master's reader can fall that far behind, and these tests check
    /// promises, not speed (the outage tests keep the default, whose expiry they show; a test of what that timeout
    /// bounds passes a shorter one).
    /// </summary>
    private protected static RedisStoreOptions NewRedisStore(int callTimeoutMs = 20_000) =>
        new() { Configuration = RedisServer.Shared.Configuration + $",asyncTimeout={callTimeoutMs},syncTimeout={callTimeoutMs}", StoreName = $"test-{Guid.NewGuid():N}" };

    /// <summary>Gets a token cancelled when the test has run too long.</summary>
    protected internal CancellationToken TimeoutToken => this.timeout.Token;

    /// <summary>Awaits the first element of <paramref name="source"/> that matches, within the test's timeout.</summary>
    protected internal Task<T> FirstAsync<T>(IObservable<T> source, Func<T, bool> predicate) =>
        source.FirstAsync(x => predicate(x)).ToTask(this.TimeoutToken);

    /// <summary>Waits for the worker to exit with code 0, and returns its report.</summary>
    protected internal async Task<string[]> ReportAfterExitAsync((IWorker Worker, string Report) spawned)
    {
        var exitCode = await spawned.Worker.Exited.WaitAsync(this.TimeoutToken);
        var lines = File.Exists(spawned.Report) ? await File.ReadAllLinesAsync(spawned.Report, this.TimeoutToken) : [];
        File.Delete(spawned.Report);
        Assert.True(exitCode == 0, $"Worker {spawned.Worker.Id} exited with {exitCode}. Report:\n{string.Join('\n', lines)}");
        return lines;
    }

    /// <summary>
    /// Runs a program of the test worker that is not a worker of this process's masters (a master of its own, timed
    /// or counted in a fresh process), killed if it outlasts the test; returns its exit code and its report.
    /// </summary>
    protected internal async Task<(int ExitCode, string[] Lines)> RunProgramAsync(string program, params string[] arguments)
    {
        var report = Path.Combine(Path.GetTempPath(), $"rxsm-{program}-{Guid.NewGuid():N}.txt");
        var startInfo = WorkerStartInfo.ForAssembly(Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"), [program, report, .. arguments]);
        using var process = Process.Start(startInfo)!;
        try
        {
            await process.WaitForExitAsync(this.TimeoutToken);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }

        var lines = await File.ReadAllLinesAsync(report, this.TimeoutToken);
        File.Delete(report);
        return (process.ExitCode, lines);
    }

    /// <summary>Waits for the worker to exit with code 0, and returns its report read back as the record type its scenario wrote.</summary>
    protected internal async Task<TReport> ReportAfterExitAsync<TReport>((IWorker Worker, string Report) spawned)
    {
        var lines = await this.ReportAfterExitAsync(spawned);
        return JsonSerializer.Deserialize<TReport>(string.Join('\n', lines))
            ?? throw new InvalidDataException($"Worker {spawned.Worker.Id} reported null.");
    }
}
