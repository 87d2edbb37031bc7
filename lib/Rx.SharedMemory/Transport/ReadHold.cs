namespace Rx.SharedMemory.Transport;

/// <summary>
/// Holds back the reading of one connection until a task completes: the master's connection to a worker reads the
/// worker's next message only once what the last one started (a message handed to observers that are behind) has
/// let go. Only that connection waits; the others read on.
/// </summary>
internal sealed class ReadHold
{
    // Written by the connection's dispatch, which runs inline on its read loop, and read by that loop before its next
    // read: one thread at a time, in turn.
    private Task? until;

    /// <summary>Holds the next read until <paramref name="task"/> completes.</summary>
    public void Until(Task task) => this.until = task;

    /// <summary>Completes when the next read may start: at once, without allocating, when nothing holds it.</summary>
    public ValueTask WaitAsync()
    {
        var task = this.until;
        if (task is null || task.IsCompleted)
        {
            this.until = null;
            return default;
        }

        return new ValueTask(WaitQuietlyAsync(task));
    }

    private static async Task WaitQuietlyAsync(Task task)
    {
        // What held the read has its own failure handling; the reading goes on whatever became of it.
        await task.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
