namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>A scenario whose report is a <typeparamref name="TReport"/>, written as JSON and read back by the tests as the same type.</summary>
/// <typeparam name="TReport">The record the scenario reports; the tests deserialize the report file into it.</typeparam>
internal abstract class Scenario<TReport> : IScenario
    where TReport : class
{
    /// <inheritdoc/>
    public virtual SharedMemoryWorkerOptions? WorkerOptions(ScenarioArguments arguments) => null;

    /// <inheritdoc/>
    async Task<object?> IScenario.RunAsync(ScenarioContext context) => await this.RunAsync(context);

    /// <summary>Drives the store and returns what it saw.</summary>
    protected abstract Task<TReport> RunAsync(ScenarioContext context);
}
