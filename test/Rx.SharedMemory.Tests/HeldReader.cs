using Rx.SharedMemory.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Holds a master's reader of the Redis change log before its next read, until disposed; by default the changes that
/// wake-ups carry too, so that meanwhile a change reaches that master's subscriptions only from the answer of the write
/// that made it.
/// </summary>
internal sealed class HeldReader : IDisposable
{
    private readonly RedisChangeFeed feed;
    private readonly TaskCompletionSource release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HeldReader(RedisChangeFeed feed) => this.feed = feed;

    /// <summary>Returns once the reader waits before its next read.</summary>
    /// <param name="feed">The master's reader.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <param name="wakeUpsToo">Whether the changes wake-ups carry are held too (the reader reads them once let go).</param>
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

    /// <summary>Lets the reader go on, and read freely from then on.</summary>
    public void Dispose()
    {
        this.feed.BeforeRead = null;
        this.feed.TakesPublishedChanges = true;
        this.release.TrySetResult();
    }
}
