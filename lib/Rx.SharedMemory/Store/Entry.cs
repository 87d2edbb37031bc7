namespace Rx.SharedMemory.Store;

/// <summary>
/// A stored key: its value, the version of its last change, and its place in the least-recently-used list.
/// Mutated only under the store's lock.
/// </summary>
internal sealed class Entry(string key, byte[] value)
{
    public string Key { get; } = key;

    public byte[] Value { get; set; } = value;

    public long Version { get; set; }

    public DateTimeOffset Timestamp { get; set; }

    /// <summary>Gets or sets when the key expires, in UTC ticks; 0 when it does not.</summary>
    public long ExpiresAt { get; set; }

    /// <summary>Gets or sets the connection that owns the key as ephemeral; 0 when nobody does.</summary>
    public long Owner { get; set; }

    /// <summary>Gets or sets the bytes the key counts against <see cref="SharedMemoryOptions.MaxBytes"/>.</summary>
    public long Size { get; set; }

    public Entry? Older { get; set; }

    public Entry? Newer { get; set; }
}
