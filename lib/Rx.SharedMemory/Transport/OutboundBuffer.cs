namespace Rx.SharedMemory.Transport;

/// <summary>
/// Counts the memory a connection's outbound pipe holds (bytes handed to it that the operating system's pipe has not
/// taken yet, in the blocks that hold them), and lets a reader of that count wait until it falls to a threshold. The master's connection to a worker writes
/// answers and change notifications without ever waiting (so that nothing queues unseen inside the JSON-RPC layer),
/// and uses this count instead: it stops reading the worker's requests while the count is over
/// <see cref="SharedMemoryOptions.MaxConnectionBufferBytes"/>, and holds change notifications back (in their
/// conflating queue) while it is over <see cref="ChangeThreshold"/>.
/// </summary>
internal sealed class OutboundBuffer(long limit, Action? peerStoppedReading = null)
{
    /// <summary>
    /// The count above which change notifications wait: small, so that a subscriber that does not read keeps its
    /// changes in the outbox, where they conflate per key, rather than in the write buffer, where they cannot.
    /// </summary>
    public const long ChangeThreshold = 256 * 1024;

    private readonly Lock gate = new();

    // Guarded by gate.
    private readonly List<(long Threshold, TaskCompletionSource Signal)> waiters = [];

    // Guarded by gate.
    private long pending;

    // Guarded by gate: once the writer has ended, nobody waits for it any more.
    private bool closed;

    /// <summary>Gets the count past which the connection stops reading requests.</summary>
    public long Limit { get; } = limit;

    /// <summary>Gets the bytes of the blocks that hold what is not yet written to the operating system.</summary>
    public long Pending
    {
        get
        {
            lock (this.gate)
            {
                return this.pending;
            }
        }
    }

    /// <summary>The peer no longer reads (a write to it failed): what is written from now on is dropped. Told once.</summary>
    public void PeerStoppedReading() => peerStoppedReading?.Invoke();

    /// <summary>Counts a block the pipe took.</summary>
    public void Added(long bytes)
    {
        lock (this.gate)
        {
            this.pending += bytes;
        }
    }

    /// <summary>Counts a block the pipe gave back (its bytes are written), and wakes whoever waited for the count to fall that far.</summary>
    public void Written(long bytes)
    {
        List<TaskCompletionSource>? ready = null;
        lock (this.gate)
        {
            this.pending -= bytes;
            for (int i = this.waiters.Count - 1; i >= 0; i--)
            {
                if (this.pending <= this.waiters[i].Threshold)
                {
                    (ready ??= []).Add(this.waiters[i].Signal);
                    this.waiters.RemoveAt(i);
                }
            }
        }

        // Outside the lock, and each continuation on the thread pool: the writer's loop must not run a reader.
        ready?.ForEach(signal => signal.TrySetResult());
    }

    /// <summary>The writer has ended: wakes every waiter, and lets later ones through at once.</summary>
    public void Close()
    {
        List<(long Threshold, TaskCompletionSource Signal)> ready;
        lock (this.gate)
        {
            this.closed = true;
            ready = [.. this.waiters];
            this.waiters.Clear();
        }

        ready.ForEach(waiter => waiter.Signal.TrySetResult());
    }

    /// <summary>Completes when at most <see cref="Limit"/> bytes wait: at once, without allocating, when that is already so.</summary>
    public ValueTask WaitForRoomAsync(CancellationToken cancellationToken) => this.WaitAtMostAsync(this.Limit, cancellationToken);

    /// <summary>Completes when at most <paramref name="threshold"/> bytes wait, or the writer has ended.</summary>
    public ValueTask WaitAtMostAsync(long threshold, CancellationToken cancellationToken)
    {
        TaskCompletionSource signal;
        lock (this.gate)
        {
            if (this.closed || this.pending <= threshold)
            {
                return default;
            }

            signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            this.waiters.Add((threshold, signal));
        }

        return new ValueTask(signal.Task.WaitAsync(cancellationToken));
    }
}
