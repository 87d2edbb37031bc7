namespace Rx.SharedMemory.Transport;

/// <summary>
/// Holds back the reading of one connection until a task completes: the master's connection to a worker reads the
/// worker's next message only once what the last one started (a message handed to observers that are behind) has
/// let go. Only that connection waits; the others read on.
/// </summary>
/// <param name="peerGone">
/// For a reader that must learn when its peer goes even while held (a worker, whose master's end of file is behind the
/// held message): true once the peer's end has closed. The hold then lets go for good, so that the reader reads what
/// is left, a bounded amount since nobody writes any more, to the end of file. Checked every 100 ms while held.
/// </param>
internal sealed class ReadHold(Func<bool>? peerGone = null)
{
    private static readonly TimeSpan PeerCheckInterval = TimeSpan.FromMilliseconds(100);

    // Written by the connection's dispatch and read by its read loop before its next read, one at a time: on the master
    // the dispatch runs inline on the loop; on a worker it runs in order on its own context, after the loop has moved
    // on, so a hold applies from the read after the one under way when it was set.
    private Task? until;

    // Written by the check of the peer (on a timer's thread), read by the loop once the wait that wrote it has ended.
    private volatile bool peerLeft;

    /// <summary>Holds the next read until <paramref name="task"/> completes.</summary>
    public void Until(Task task) => this.until = task;

    /// <summary>Completes when the next read may start: at once, without allocating, when nothing holds it.</summary>
    public ValueTask WaitAsync()
    {
        var task = this.until;
        if (task is null || task.IsCompleted || this.peerLeft)
        {
            this.until = null;
            return default;
        }

        return new ValueTask(peerGone is null ? WaitQuietlyAsync(task) : this.WaitWhilePeerStaysAsync(task, peerGone));
    }

    private static async Task WaitQuietlyAsync(Task task)
    {
        // What held the read has its own failure handling; the reading goes on whatever became of it.
        await task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task WaitWhilePeerStaysAsync(Task task, Func<bool> gone)
    {
        using var timer = new PeriodicTimer(PeerCheckInterval);
        while (!task.IsCompleted)
        {
            await Task.WhenAny(task, timer.WaitForNextTickAsync().AsTask()).ConfigureAwait(false);
            if (!task.IsCompleted && gone())
            {
                this.peerLeft = true;
                return;
            }
        }
    }
}
