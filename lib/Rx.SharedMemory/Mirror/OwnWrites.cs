using System.Buffers.Text;
using System.Collections.Immutable;

namespace Rx.SharedMemory.Mirror;

/// <summary>
/// The mirrors made from one store, told of that store's acknowledged writes before each write's call returns. A
/// store with no mirror pays one volatile read per write.
/// </summary>
/// <remarks>
/// A write is announced (<see cref="Begin"/>) before it is sent, so that a mirror remembers, while it is in flight,
/// deletions of the key that its stream brings: a late acknowledgement then cannot bring back a key deleted after it.
/// </remarks>
internal sealed class OwnWrites
{
    // Copy-on-write (an ImmutableArray is one array reference, read atomically): mirrors come and go rarely, writes
    // read it on every call.
    private ImmutableArray<SharedStoreMirror> mirrors = [];

    public void Add(SharedStoreMirror mirror) => ImmutableInterlocked.Update(ref this.mirrors, static (list, m) => list.Add(m), mirror);

    public void Remove(SharedStoreMirror mirror) => ImmutableInterlocked.Update(ref this.mirrors, static (list, m) => list.Remove(m), mirror);

    /// <summary>Announces a write of <paramref name="key"/> about to be sent; false when no mirror holds the key (nothing more to report).</summary>
    public bool Begin(string key)
    {
        bool wanted = false;
        foreach (var mirror in this.mirrors)
        {
            wanted |= mirror.BeginOwnWrite(key);
        }

        return wanted;
    }

    /// <summary>Awaits a write announced with <see cref="Begin"/> and reports its outcome before the caller resumes.</summary>
    public async ValueTask<TResult> ReportAsync<TResult>(string key, ValueTask<TResult> call, Action<OwnWrites, string, TResult> report)
    {
        TResult result;
        try
        {
            result = await call.ConfigureAwait(false);
        }
        catch
        {
            this.Ended(key, null, 0);
            throw;
        }

        report(this, key, result);
        return result;
    }

    /// <summary>Reports a committed write of <paramref name="utf8Json"/> (never changed afterwards) at <paramref name="version"/>.</summary>
    public void Set(string key, byte[] utf8Json, long version) => this.Ended(key, utf8Json, version);

    /// <summary>Reports a compare-and-set's outcome: a write of <paramref name="utf8Json"/> when it succeeded.</summary>
    public void CompareAndSet(string key, byte[] utf8Json, bool succeeded, long version) => this.Ended(key, succeeded ? utf8Json : null, succeeded ? version : 0);

    /// <summary>Reports a committed increment's result.</summary>
    public void Set(string key, long value, long version)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, digits, out int written);
        this.Ended(key, digits[..written].ToArray(), version);
    }

    /// <summary>Reports a deletion at <paramref name="version"/>; 0 when the key was absent and nothing was committed.</summary>
    public void Deleted(string key, long version) => this.Ended(key, null, version);

    /// <summary>Reports a write that committed nothing (a compare-and-set that lost).</summary>
    public void Unchanged(string key) => this.Ended(key, null, 0);

    private void Ended(string key, byte[]? utf8Json, long version)
    {
        foreach (var mirror in this.mirrors)
        {
            mirror.EndOwnWrite(key, utf8Json, version);
        }
    }
}
