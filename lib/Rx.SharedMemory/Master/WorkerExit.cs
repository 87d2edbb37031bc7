namespace Rx.SharedMemory;

/// <summary>A worker's exit, as reported by <see cref="SharedMemoryMaster.WorkerExited"/>.</summary>
/// <param name="Worker">The worker.</param>
/// <param name="ExitCode">The exit code of its process (on Unix, 128 plus the signal number when a signal ended it).</param>
public sealed record WorkerExit(IWorker Worker, int ExitCode);
