namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>connect-twice: connected, checks that it is still a worker process, connects again, and uses the first connection after that.</summary>
internal sealed class ConnectTwiceScenario : Scenario<ConnectTwiceScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        bool whileConnected = SharedMemoryWorker.IsWorkerProcess;
        string? secondError = null;
        string? secondMessage = null;
        try
        {
            await using var second = await SharedMemoryWorker.ConnectAsync(context.Timeout);
        }
        catch (Exception ex)
        {
            secondError = ex.GetType().FullName;
            secondMessage = ex.Message;
        }

        long version = await context.Store.SetAsync("connect-twice", context.Store.WorkerId, context.Timeout);
        return new Report(whileConnected, secondError, secondMessage, SharedMemoryWorker.IsWorkerProcess, version);
    }

    /// <param name="IsWorkerProcessWhileConnected">What <see cref="SharedMemoryWorker.IsWorkerProcess"/> said once connected.</param>
    /// <param name="SecondConnectError">The type of what the second ConnectAsync threw, or null.</param>
    /// <param name="SecondConnectMessage">Its message.</param>
    /// <param name="IsWorkerProcessAfterSecondConnect">What <see cref="SharedMemoryWorker.IsWorkerProcess"/> said after it.</param>
    /// <param name="VersionAfterSecondConnect">The version of a set made through the first connection after the second failed.</param>
    internal sealed record Report(bool IsWorkerProcessWhileConnected, string? SecondConnectError, string? SecondConnectMessage, bool IsWorkerProcessAfterSecondConnect, long VersionAfterSecondConnect);
}
