namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>write-stderr: once connected, writes each argument as a line to standard error; no report.</summary>
internal sealed class WriteStandardErrorScenario : IScenario
{
    public SharedMemoryWorkerOptions? WorkerOptions(ScenarioArguments arguments) => null;

    public async Task<object?> RunAsync(ScenarioContext context)
    {
        foreach (var line in context.Arguments.All)
        {
            await Console.Error.WriteLineAsync(line);
        }

        return null;
    }
}
