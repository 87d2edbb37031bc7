namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>What a scenario runs with: the connected worker, its arguments and the time it may take.</summary>
/// <param name="Store">The worker, connected to the master that spawned this process.</param>
/// <param name="Arguments">The arguments after the scenario's name and the report's path.</param>
/// <param name="Timeout">Cancelled when the scenario has run for 150 s: a guard against a hang.</param>
/// <param name="PipeHandles">The pipes' descriptors as the master passed them, read before the library ran, which clears them.</param>
internal sealed record ScenarioContext(SharedMemoryWorker Store, ScenarioArguments Arguments, CancellationToken Timeout, IReadOnlyList<string?> PipeHandles);
