using System.Collections.Concurrent;
using System.Diagnostics;
using StackExchange.Redis;

namespace Rx.SharedMemory.Redis;

/// <summary>
/// This master's waits for the store's locks. A lock and its queue live in Redis (<see cref="RedisScripts.Lock"/>),
/// shared by every master; the script that passes a lock on publishes the claim it went to, which wakes its waiter
/// here. A waiter also looks at the lock itself every half second, so that a message missed while reconnecting
/// delays it by at most that.
/// </summary>
internal sealed class RedisLocks(RedisEngine engine)
{
    private static readonly TimeSpan Look = TimeSpan.FromMilliseconds(500);

    // Claim ("token|owner|request|name") to its waiter's signal.
    private readonly ConcurrentDictionary<string, TaskCompletionSource> waiting = new(StringComparer.Ordinal);

    // Guarded by itself: the owners with a lock request whose script has not answered yet, and how many; and the
    // owners among them released meanwhile. An owner leaves both once its last request has answered.
    private readonly Dictionary<string, int> requesting = new(StringComparer.Ordinal);
    private readonly HashSet<string> released = new(StringComparer.Ordinal);

    // The locks this master's owners hold, each to the request that took it: a release goes by that request's claim
    // (Forget), not by the token alone, which a store restarted empty hands out again, to another holder.
    private readonly ConcurrentDictionary<(string Name, long Token, string Owner), string> held = new();

    // Numbers this master's lock requests; with its (random) id, a request's id unique in the store.
    private long requests;

    /// <summary>Listens for the locks passed on; before the first wait, so that none is missed.</summary>
    public Task StartAsync() =>
        engine.Subscriber.SubscribeAsync(engine.Channel("grants"), (_, claim) =>
        {
            if (this.waiting.TryRemove((string)claim!, out var waiter))
            {
                waiter.TrySetResult();
            }
        });

    /// <summary>
    /// Takes the lock or joins its queue. The request is sent before this returns its task, so a release of the owner
    /// that follows runs after it in Redis and finds the lock or the wait to take back.
    /// </summary>
    public Task<long> AcquireAsync(string name, string owner, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        lock (this.requesting)
        {
            this.requesting[owner] = this.requesting.GetValueOrDefault(owner) + 1;
        }

        string requestId = $"{engine.MasterId}.{Interlocked.Increment(ref this.requests)}";
        Task<RedisResult> request;
        try
        {
            request = engine.RunAsync(RedisScripts.Lock, cancellationToken, name, owner, requestId);
        }
        catch
        {
            this.Answered(owner);
            throw;
        }

        return this.WaitAsync(request, name, owner, requestId, timeout, cancellationToken);
    }

    private async Task<long> WaitAsync(Task<RedisResult> request, string name, string owner, string requestId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        RedisResult[] result;
        bool ownerReleased;
        try
        {
            result = (RedisResult[])(await request.ConfigureAwait(false))!;
        }
        catch (SharedMemoryUnavailableException)
        {
            // It may have run, and granted or queued a claim nobody will wait for: taken back once Redis answers.
            this.ForgetInBackground(name, owner, requestId);
            throw;
        }
        finally
        {
            ownerReleased = this.Answered(owner);
        }

        long token = (long)result[1];
        if ((long)result[0] == 1 && !ownerReleased)
        {
            return this.Held(name, token, owner, requestId);
        }

        string claim = $"{token}|{owner}|{requestId}|{name}";
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        this.waiting[claim] = signal;
        if (ownerReleased)
        {
            signal.TrySetCanceled(CancellationToken.None);
        }

        bool granted = false;
        try
        {
            while (true)
            {
                try
                {
                    if ((string?)await RedisEngine.OffTheReaderAsync(engine.Database.HashGetAsync(engine.Key("locks"), name)).ConfigureAwait(false) == claim)
                    {
                        granted = true;
                        return this.Held(name, token, owner, requestId);
                    }
                }
                catch (Exception ex) when (RedisEngine.IsRedisFailure(ex))
                {
                    // Redis did not answer the look: the wait goes on, and the next look or the grant's message decides.
                }

                var left = timeout == Timeout.InfiniteTimeSpan ? Look : timeout - started.Elapsed;
                if (left <= TimeSpan.Zero)
                {
                    break;
                }

                try
                {
                    await signal.Task.WaitAsync(left < Look ? left : Look, cancellationToken).ConfigureAwait(false);
                    granted = true;
                    return this.Held(name, token, owner, requestId);
                }
                catch (TimeoutException)
                {
                    // Looked at again above.
                }
            }
        }
        finally
        {
            this.waiting.TryRemove(claim, out _);
            if (!granted)
            {
                // Cancelled, timed out, its owner released, or Redis failing: out of the queue, and given back if it
                // came meanwhile, so that no request nobody waits for is ever granted the lock.
                this.Abandon(name, token, owner, requestId);
            }
        }

        throw new TimeoutException($"The lock '{name}' was not granted within {timeout}.");
    }

    /// <summary>
    /// Releases a lock <paramref name="owner"/> holds with <paramref name="token"/>, by the claim of the request that
    /// took it (by the token alone for one this master does not know). When Redis cannot be reached (the release may
    /// not have run), it fails, and is tried again until Redis answers (or the engine stops), in the background: a
    /// holder releases its lock once, and nobody else can.
    /// </summary>
    /// <returns>False when the request no longer holds it.</returns>
    public async ValueTask<bool> ReleaseAsync(string name, long token, string owner, CancellationToken cancellationToken)
    {
        bool known = this.held.TryGetValue((name, token, owner), out var requestId);
        Task<RedisResult> ReleaseOnceAsync(CancellationToken cancellation) => known
            ? engine.RunAsync(RedisScripts.Forget, cancellation, name, owner, requestId!)
            : engine.RunAsync(RedisScripts.Unlock, cancellation, name, token);

        try
        {
            var released = await ReleaseOnceAsync(cancellationToken).ConfigureAwait(false);
            this.held.TryRemove((name, token, owner), out _);
            return (long)released! == 1;
        }
        catch (SharedMemoryUnavailableException)
        {
            this.held.TryRemove((name, token, owner), out _);
            _ = engine.RetryUntilStoppedAsync(() => ReleaseOnceAsync(CancellationToken.None), static _ => { });
            throw;
        }
    }

    /// <summary>Ends this master's waits of <paramref name="owner"/>: they fail as cancelled, as the embedded engine's do; and forgets its locks, which its release frees.</summary>
    public void AbandonWaitsOf(string owner)
    {
        this.ForgetLocksOf(owner);

        lock (this.requesting)
        {
            if (this.requesting.ContainsKey(owner))
            {
                this.released.Add(owner);
            }
        }

        foreach (var (claim, waiter) in this.waiting)
        {
            int first = claim.IndexOf('|');
            if (string.CompareOrdinal(claim, first + 1, owner + "|", 0, owner.Length + 1) == 0)
            {
                waiter.TrySetCanceled(CancellationToken.None);
            }
        }
    }

    /// <summary>Forgets the locks <paramref name="owner"/> held: its release frees them (again once it has run, for a wait granted meanwhile).</summary>
    public void ForgetLocksOf(string owner)
    {
        foreach (var lockHeld in this.held.Keys)
        {
            if (lockHeld.Owner == owner)
            {
                this.held.TryRemove(lockHeld, out _);
            }
        }
    }

    /// <summary>Fails every wait of this master: its lease ran out, and the other masters took its waits out of the queues.</summary>
    public void LeaseLost()
    {
        foreach (var (_, waiter) in this.waiting)
        {
            waiter.TrySetException(new SharedMemoryUnavailableException("This master's lease on the store ran out before it was renewed (it was paused or cut off from Redis): the other masters released its lock waits, its locks and its workers' ephemeral keys."));
        }
    }

    /// <summary>
    /// Takes a wait out of the lock's queue, giving the lock back if it was granted meanwhile; tried again until Redis
    /// answers (or the engine stops), in the background, so that the caller learns its outcome at once.
    /// </summary>
    private void Abandon(string name, long token, string owner, string requestId) => _ = engine.RetryUntilStoppedAsync(
        async () =>
        {
            if ((long)(await engine.RunAsync(RedisScripts.Abandon, CancellationToken.None, name, token, owner, requestId).ConfigureAwait(false))! == 1)
            {
                // Granted just as the wait ended: given back, since the caller will not know it holds it; by its claim,
                // as a failed release is, not by its token alone.
                await engine.RunAsync(RedisScripts.Forget, CancellationToken.None, name, owner, requestId).ConfigureAwait(false);
            }
        },
        static _ => { });

    /// <summary>
    /// Takes back a request whose answer was lost: whether it ran is unknown, and a claim it left would hold the lock,
    /// or its place in the queue, for nobody. Tried until Redis answers (or the engine stops), in the background.
    /// </summary>
    internal Task ForgetAsync(string name, string owner, string requestId) => engine.RetryUntilStoppedAsync(
        () => engine.RunAsync(RedisScripts.Forget, CancellationToken.None, name, owner, requestId),
        static _ => { });

    private void ForgetInBackground(string name, string owner, string requestId) => _ = this.ForgetAsync(name, owner, requestId);


    private long Held(string name, long token, string owner, string requestId)
    {
        this.held[(name, token, owner)] = requestId;
        return token;
    }

    /// <summary>Counts a lock request's answer; returns whether its owner was released while it was on its way.</summary>
    private bool Answered(string owner)
    {
        lock (this.requesting)
        {
            bool ownerReleased = this.released.Contains(owner);
            int left = this.requesting[owner] - 1;
            if (left == 0)
            {
                this.requesting.Remove(owner);
                this.released.Remove(owner);
            }
            else
            {
                this.requesting[owner] = left;
            }

            return ownerReleased;
        }
    }
}
