namespace Rx.SharedMemory.Store;

/// <summary>
/// The most recent changes, indexed by version, bounded by count and by the bytes of the values they hold. Versions
/// are contiguous (each commit takes the next one), so a ring buffer indexed by version modulo capacity needs no
/// search; the byte bound drops the oldest changes first, so what is held is always a contiguous range of versions.
/// </summary>
/// <param name="capacity">The most changes held.</param>
/// <param name="maxBytes">The most value bytes held; the newest change is held whatever its size.</param>
internal sealed class ChangeLog(int capacity, long maxBytes)
{
    private readonly ChangeRecord?[] ring = new ChangeRecord?[capacity];
    private long oldestKept = 1;

    /// <summary>Gets the newest version appended, or 0.</summary>
    public long LastVersion { get; private set; }

    /// <summary>Gets the oldest version still held (LastVersion + 1 when empty).</summary>
    public long FirstVersion => Math.Max(this.oldestKept, Math.Max(1, this.LastVersion - this.ring.Length + 1));

    /// <summary>Gets the number of changes held: versions are contiguous.</summary>
    public int Count => (int)(this.LastVersion - this.FirstVersion + 1);

    /// <summary>Gets the bytes of the values held.</summary>
    public long Bytes { get; private set; }

    public void Append(ChangeRecord change)
    {
        ref var slot = ref this.ring[change.Version % this.ring.Length];
        if (slot is not null)
        {
            this.Bytes -= SizeOf(slot);
        }

        slot = change;
        this.Bytes += SizeOf(change);
        this.LastVersion = change.Version;
        while (this.Bytes > maxBytes && this.FirstVersion < this.LastVersion)
        {
            long oldest = this.FirstVersion;
            ref var dropped = ref this.ring[oldest % this.ring.Length];
            this.Bytes -= SizeOf(dropped!);
            dropped = null;
            this.oldestKept = oldest + 1;
        }
    }

    /// <summary>Whether every change after <paramref name="version"/> is still held.</summary>
    public bool CoversAfter(long version) => version + 1 >= this.FirstVersion && version <= this.LastVersion;

    /// <summary>The held changes with a version above <paramref name="version"/>, oldest first.</summary>
    public IEnumerable<ChangeRecord> After(long version)
    {
        for (long v = Math.Max(version + 1, this.FirstVersion); v <= this.LastVersion; v++)
        {
            yield return this.ring[v % this.ring.Length]!;
        }
    }

    private static long SizeOf(ChangeRecord change) => change.Value?.Length ?? 0;
}
