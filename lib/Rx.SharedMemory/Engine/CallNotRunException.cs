namespace Rx.SharedMemory.Engine;

/// <summary>
/// A call of a batch that the engine did not run, since the gets before it had read the batch's budget of value bytes
/// (<see cref="IStoreEngine.BeginBatch"/>): it had no effect, and the worker sends it again.
/// </summary>
internal sealed class CallNotRunException() : Exception("Not run: the batch's gets read its budget before it.");
