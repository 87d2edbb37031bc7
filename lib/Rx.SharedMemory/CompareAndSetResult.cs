namespace Rx.SharedMemory;

/// <summary>The outcome of a compare-and-set.</summary>
/// <param name="Succeeded">Whether the key was at the expected version and the value was written.</param>
/// <param name="Version">The key's version after the call: the new version when it succeeded, otherwise the current one (0 when the key does not exist).</param>
public readonly record struct CompareAndSetResult(bool Succeeded, long Version);
