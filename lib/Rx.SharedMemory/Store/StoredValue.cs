namespace Rx.SharedMemory.Store;

/// <summary>A key's value as read under the store's lock.</summary>
/// <param name="Value">Compact UTF-8 JSON; never mutated after it is stored.</param>
/// <param name="Version">The version of the key's last change.</param>
internal readonly record struct StoredValue(byte[] Value, long Version);
