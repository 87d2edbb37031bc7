using Rx.SharedMemory.Diagnostics;

namespace Rx.SharedMemory.Store;

/// <summary>
/// The store's measurements, counted under its lock and recorded once the lock is released: a
/// <see cref="System.Diagnostics.Metrics.Counter{T}.Add(T)"/> runs every listener's callback inline, and no foreign
/// code may run under the store's lock (it would stall every caller, or deadlock one that calls the store).
/// </summary>
internal static class DeferredMetrics
{
    // Per thread, as the store call that counts them: counted under the store's lock, recorded by the same call after it.
    [ThreadStatic]
    private static int expired;

    [ThreadStatic]
    private static int evicted;

    /// <summary>Counts a key the store removed by itself; called under the store's lock.</summary>
    public static void CountRemoved(KeyChangeKind kind)
    {
        if (kind == KeyChangeKind.Expired)
        {
            expired++;
        }
        else if (kind == KeyChangeKind.Evicted)
        {
            evicted++;
        }
    }

    /// <summary>Records what this thread counted; called without the store's lock.</summary>
    public static void Record(MasterMetrics metrics)
    {
        if (expired != 0)
        {
            int count = expired;
            expired = 0;
            metrics.KeysRemoved.Add(count, SharedMemoryMetrics.Expired);
        }

        if (evicted != 0)
        {
            int count = evicted;
            evicted = 0;
            metrics.KeysRemoved.Add(count, SharedMemoryMetrics.Evicted);
        }
    }
}
