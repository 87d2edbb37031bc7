namespace Rx.SharedMemory.Store;

/// <summary>
/// The most recent changes, indexed by version. Versions are contiguous (each commit takes the next one), so a ring
/// buffer indexed by version modulo capacity needs no search.
/// </summary>
internal sealed class ChangeLog(int capacity)
{
    private readonly ChangeRecord?[] ring = new ChangeRecord?[capacity];

    /// <summary>Gets the newest version appended, or 0.</summary>
    public long LastVersion { get; private set; }

    /// <summary>Gets the oldest version still held (LastVersion + 1 when empty).</summary>
    public long FirstVersion => Math.Max(1, this.LastVersion - this.ring.Length + 1);

    public void Append(ChangeRecord change)
    {
        this.ring[change.Version % this.ring.Length] = change;
        this.LastVersion = change.Version;
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
}
