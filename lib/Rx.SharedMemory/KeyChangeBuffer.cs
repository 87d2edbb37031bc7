using Rx.SharedMemory.Conflation;

namespace Rx.SharedMemory;

/// <summary>
/// Turns an observable of changes into batches a consumer pulls at its own pace, bounded the same way as the master's
/// subscriber queues: past the capacity, changes to the same key conflate to the latest, which counts what it replaced.
/// The buffer behind <see cref="SharedStoreExtensions.WatchAsync"/> and <see cref="SharedStoreExtensions.WatchPrefixAsync"/>.
/// </summary>
internal sealed class KeyChangeBuffer(int capacity) : IObserver<KeyChange>
{
    // Taken by the source's OnNext (one call at a time, as Rx promises) and by the one consumer in TakeAsync. Nothing
    // foreign runs under it: the waiter's continuation runs asynchronously.
    private readonly Lock gate = new();

    // Guarded by gate. The starting state never conflates with later changes (see StreamPart).
    private readonly ConflatingQueue<(string Key, StreamPart Part), KeyChange> queue = new(
        capacity,
        long.MaxValue,
        change => (change.Key, StreamParts.Of(change.Kind)),
        (waiting, newer) => newer.WithSkipped(waiting.SkippedVersions + 1 + newer.SkippedVersions),
        change => 0);

    // Guarded by gate: the consumer's wait for the next change, set by TakeAsync and completed by the source.
    private TaskCompletionSource? waiter;

    // Guarded by gate: whether the source has ended, and its error if it failed.
    private bool completed;
    private Exception? error;

    public void OnNext(KeyChange value)
    {
        lock (this.gate)
        {
            this.queue.Enqueue(value);
            this.WakeConsumer();
        }
    }

    public void OnError(Exception error)
    {
        lock (this.gate)
        {
            this.error = error;
            this.completed = true;
            this.WakeConsumer();
        }
    }

    public void OnCompleted()
    {
        lock (this.gate)
        {
            this.completed = true;
            this.WakeConsumer();
        }
    }

    /// <summary>Waits for changes, and moves them into <paramref name="into"/>.</summary>
    /// <returns><see langword="false"/> when the source has ended and nothing is left.</returns>
    /// <exception cref="Exception">The source's error, once everything before it was taken.</exception>
    public async ValueTask<bool> TakeAsync(List<KeyChange> into, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (this.gate)
            {
                this.queue.TakeInto(into, int.MaxValue);
                if (into.Count > 0)
                {
                    return true;
                }

                if (this.completed)
                {
                    if (this.error is { } failure)
                    {
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
                    }

                    return false;
                }

                this.waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = this.waiter.Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void WakeConsumer()
    {
        this.waiter?.TrySetResult();
        this.waiter = null;
    }
}
