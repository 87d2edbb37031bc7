namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>One thing the test worker can do, looked up by name in <see cref="ScenarioTable"/>.</summary>
internal interface IScenario
{
    /// <summary>The worker's settings for these arguments; null for the defaults.</summary>
    SharedMemoryWorkerOptions? WorkerOptions(ScenarioArguments arguments);

    /// <summary>Runs against a connected worker and returns the report the test reads back, or null for none.</summary>
    Task<object?> RunAsync(ScenarioContext context);
}
