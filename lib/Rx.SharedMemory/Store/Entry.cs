namespace Rx.SharedMemory.Store;

/// <summary>A stored key: its value and the version and time of its last change.</summary>
internal sealed class Entry(byte[] value, long version, DateTimeOffset timestamp)
{
    public byte[] Value { get; set; } = value;

    public long Version { get; set; } = version;

    public DateTimeOffset Timestamp { get; set; } = timestamp;
}
