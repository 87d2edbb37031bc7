namespace Rx.SharedMemory.Mirror;

/// <summary>One key of a mirror: its value as UTF-8 JSON and its version, immutable but for the caches.</summary>
internal sealed class MirrorEntry(byte[] utf8Json, long version)
{
    public byte[] Utf8Json { get; } = utf8Json;

    public long Version { get; } = version;

    /// <summary>
    /// The last typed read of this version, as a <see cref="StoreEntry{T}"/> of the type read: a hot key is parsed
    /// once per version and type, not on every read. Racing readers may each parse; the first to publish stays.
    /// </summary>
    public object? Typed;

    /// <summary>The prefix state that listed this entry last (guarded by the mirror's gate; readers never look at it).</summary>
    public long Mark;
}
