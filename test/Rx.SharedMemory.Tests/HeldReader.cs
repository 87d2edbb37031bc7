using Rx.SharedMemory.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Holds a master's reader of the Redis change log before its next read, until disposed: meanwhile a change reaches
/// that master's subscriptions only from the answer of the write that made it.
/// </summary>
internal sealed class HeldReader : IDisposable
{
    private readonly RedisChangeFeed feed;
    private readonly TaskCompletionSource release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HeldReader(RedisChangeFeed feed) => this.feed = feed;

    /// <summary>Returns once the reader waits before its next read.</summary>
    public static async Task<HeldReader> HoldAsync(RedisChangeFeed feed, CancellationToken cancellationToken)
    {
        var holding = new HeldReader(feed);
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
        this.release.TrySetResult();
    }
}
