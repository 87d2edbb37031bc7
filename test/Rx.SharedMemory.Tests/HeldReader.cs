using Rx.SharedMemory.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Holds a master's reader of the Redis change log before its next read, until disposed; by default the changes that
/// wake-ups carry too, so that meanwhile a change reaches that master's subscriptions only from the answer of the write
/// that made it. Those stay with the reader once it is let go: a wake-up of the hold still queued would otherwise hand
/// out from its message what a test means the reader to find in the log.
/// </summary>
internal sealed class HeldReader : IDisposable
{
    private readonly RedisChangeFeed feed;
    private readonly TaskCompletionSource release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HeldReader(RedisChangeFeed feed) => this.feed = feed;

    /// <summary>Returns once the reader waits before its next read.</summary>
    /// <param name="feed">The master's reader.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <param name="wakeUpsToo">Whether the changes wake-ups carry are left to the reader, from now on.</param>
    public static async Task<HeldReader> HoldAsync(RedisChangeFeed feed, CancellationToken cancellationToken, bool wakeUpsToo = true)
    {
        var holding = new HeldReader(feed);
        feed.TakesPublishedChanges = !wakeUpsToo;
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        feed.BeforeRead = () =>
        {
            held.TrySetResult();
            return holding.release.Task;
        };
        await held.Task.WaitAsync(cancellationToken);
        return holding;
    }

    /// <summary>
    /// Lets the reader go on as if the read it was held before failed (Redis out of reach), and holds it again before
    /// its next read: returns once it waits there.
    /// </summary>
    public async Task<HeldReader> FailReadAndHoldNextAsync(CancellationToken cancellationToken)
    {
        var next = new HeldReader(this.feed);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        this.feed.BeforeRead = () =>
        {
            held.TrySetResult();
            return next.release.Task;
        };
        this.release.TrySetException(RedisFailure.ConnectionLost("The read failed (test)."));
        await held.Task.WaitAsync(cancellationToken);
        return next;
    }

    /// <summary>Lets the reader go on, and read freely from then on.</summary>
    public void Dispose()
    {
        this.feed.BeforeRead = null;
        this.release.TrySetResult();
    }
}
