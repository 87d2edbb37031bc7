using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>Connects a worker, runs a scenario, and writes its typed report as one JSON document.</summary>
internal static class ScenarioRunner
{
    /// <param name="scenario">The scenario.</param>
    /// <param name="reportPath">Where its report goes.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="pipeHandles">The pipes' descriptors as the master passed them, read before the library ran.</param>
    public static async Task RunAsync(IScenario scenario, string reportPath, string[] arguments, string?[] pipeHandles)
    {
        var parsed = new ScenarioArguments(arguments);

        // A guard against a hang, not a speed check: a worker of a master on Redis, on two loaded cores, is slow. Made
        // before the worker, so that it is disposed after it.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        await using var store = await SharedMemoryWorker.ConnectAsync(scenario.WorkerOptions(parsed), loggerFactory: null);

        // Ten seconds after its master has gone (a test host killed), the scenario gives up rather than outlive the run
        // by the guard's time: long enough for the scenarios that report what they saw of their master's end.
        _ = store.Completion.ContinueWith(static (_, state) => GiveUpSoon((CancellationTokenSource)state!), timeout, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        object? report;
        try
        {
            report = await scenario.RunAsync(new ScenarioContext(store, parsed, timeout.Token, pipeHandles));
        }
        catch (Exception ex)
        {
            // The test shows the report of a worker that failed: this is what it failed with.
            await File.WriteAllTextAsync(reportPath, ex.ToString());
            throw;
        }

        if (report is not null)
        {
            // Written whole under another name, then renamed: a test never reads half a document.
            var partial = reportPath + ".partial";
            await File.WriteAllTextAsync(partial, JsonSerializer.Serialize(report, report.GetType()));
            File.Move(partial, reportPath, overwrite: true);
        }
    }

    private static void GiveUpSoon(CancellationTokenSource timeout)
    {
        try
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
        }
        catch (ObjectDisposedException)
        {
            // The scenario ended first (the worker is disposed as it ends, its completion then queued): nothing to give up.
        }
    }
}
