namespace Rx.SharedMemory;

/// <summary>A value read from the store, with the version of its last change.</summary>
/// <typeparam name="T">The type the value was read as.</typeparam>
/// <param name="Value">The value.</param>
/// <param name="Version">The store version at which the key was last written; use it with a resume or a compare-and-set.</param>
public sealed record StoreEntry<T>(T Value, long Version);
