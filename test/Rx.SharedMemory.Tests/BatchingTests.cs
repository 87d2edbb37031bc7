using System.Reactive.Linq;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A worker's pipelined calls travel in batch requests, keep their order and each get its own result or error. In the
/// non-parallel collection, since the meter that counts batches is process-wide.
/// </summary>
[Collection(nameof(Measurements))]
public abstract class BatchingTests(TestEngine engine) : WorkerProcessTestBase(engine)
{
    [Fact]
    public async Task PipelinedGets_OfMoreThanOneAnswerHolds_ComeBackWhole_AndInCallOrder()
    {
        // Inline, not through shared memory: a batch's answer holds at most 4 MiB (plus one value) of the twelve 1.5 MB
        // values asked for, and the calls the master did not run go again, before the rewrite that follows them.
        await using var master = await this.StartMasterAsync(this.Engine, new SharedMemoryOptions { MaxValueBytes = 2 * 1024 * 1024, LargeValuesThroughSharedMemory = false });
        using var batchSizes = new InstrumentRecorder<int>("rx.sharedmemory.batch.calls");
        var reportPath = Path.Combine(Path.GetTempPath(), $"rxsm-big-{Guid.NewGuid():N}.txt");
        var worker = await master.SpawnWorkerAsync(
            WorkerStartInfo.ForAssembly(Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"), ["big-gets", reportPath, "12"]),
            this.TimeoutToken);

        var report = await this.ReportAfterExitAsync<BigGetsScenario.Report>((worker, reportPath));

        Assert.Equal(0, report.Wrong);
        Assert.Equal("changed", await master.Store.GetAsync<string>("big/0", this.TimeoutToken));

        // Twelve sets, then 15 pipelined calls, of which at least 9 were sent twice or more, then a get. The deferred
        // engine does not bound what its gets read, as Redis does: their values are in memory by the time the master
        // answers, and it answers in full every get that a write of the batch ran after, so that nothing goes twice.
        Assert.True(this.Engine == TestEngine.Deferred || batchSizes.Measurements.Sum(m => m.Value) >= 12 + 15 + 9 + 1, $"{batchSizes.Measurements.Sum(m => m.Value)} calls in batches");
    }

    [Fact]
    public async Task PipelinedCalls_TravelInBatches_CommitInCallOrder_EachWithItsOwnResultOrError()
    {
        const int Rounds = 2000;
        const int Refused = Rounds / 50;
        using var batchSizes = new InstrumentRecorder<int>("rx.sharedmemory.batch.calls");
        var commits = new List<string>();
        var ended = new TaskCompletionSource();
        using var recording = this.Master.Changes.Where(c => c.Key.StartsWith("pipeline/", StringComparison.Ordinal)).Subscribe(c =>
        {
            lock (commits)
            {
                commits.Add(c.Key);
            }

            if (c.Key == "pipeline/end")
            {
                ended.TrySetResult();
            }
        });

        var report = await this.ReportAfterExitAsync<PipelineScenario.Report>(await this.SpawnAsync("pipeline", Rounds.ToString()));

        Assert.Equal(0, report.Wrong);
        Assert.Equal((Refused, Refused), (report.RefusedAsExpected, report.Refused));
        // Each subscription has a queue of its own: the end marker reaching this one means every earlier change has.
        await this.Master.Store.SetAsync("pipeline/end", true, this.TimeoutToken);
        await ended.Task.WaitAsync(this.TimeoutToken);
        string[] committed;
        lock (commits)
        {
            committed = [.. commits];
        }

        // The order the worker called in: its text key, then each round's set and increment (gets and refused
        // increments commit nothing).
        string[] expected = ["pipeline/text", .. Enumerable.Range(0, Rounds).SelectMany(i => new[] { $"pipeline/{i}", "pipeline/count" }), "pipeline/end"];
        Assert.Equal(expected, committed);

        // Every call went in a batch, and most in batches of many.
        var sizes = batchSizes.Measurements.Select(m => m.Value).ToArray();
        Assert.Equal(1 + (3 * Rounds) + Refused, sizes.Sum());
        Assert.True(sizes.Length < Rounds / 4, $"{sizes.Sum()} calls took {sizes.Length} batches (largest {sizes.Max()})");
    }
}

/// <summary>The same tests with the embedded engine.</summary>
public sealed class BatchingTestsInMemory() : BatchingTests(TestEngine.Memory);

/// <summary>The same tests with an engine whose answers come later, as a remote engine's do.</summary>
public sealed class BatchingTestsDeferred() : BatchingTests(TestEngine.Deferred);

/// <summary>The same tests with the store kept in Redis.</summary>
public sealed class BatchingTestsRedis() : BatchingTests(TestEngine.Redis);
