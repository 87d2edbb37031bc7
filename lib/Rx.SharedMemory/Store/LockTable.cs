namespace Rx.SharedMemory.Store;

/// <summary>
/// Named locks held by connections: one holder at a time, waiters served in the order they asked, and every lock and
/// wait of a connection released the moment it goes. Waits are timed by <paramref name="timeProvider"/>, the store's
/// clock, so that a fake clock drives lock timeouts in tests as it drives times to live.
/// </summary>
internal sealed class LockTable(TimeProvider timeProvider)
{
    /// <summary>The longest one timer waits (<see cref="Task.WaitAsync(TimeSpan)"/> refuses more, about 49.7 days): a longer timeout is waited for in steps.</summary>
    private static readonly TimeSpan LongestTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly Lock gate = new();

    // Guarded by gate, as is every LockState in it (its holder and its waiters).
    private readonly Dictionary<string, LockState> locks = new(StringComparer.Ordinal);

    // Guarded by gate: each grant or wait takes the next token, so a token is never reused.
    private long nextToken;

    /// <summary>Gets the number of locks held or waited for.</summary>
    internal int Count
    {
        get
        {
            lock (this.gate)
            {
                return this.locks.Count;
            }
        }
    }

    /// <summary>Waits for the lock.</summary>
    /// <returns>The token that releases it.</returns>
    /// <exception cref="TimeoutException">The lock was not granted within <paramref name="timeout"/>.</exception>
    public async Task<long> AcquireAsync(string name, long owner, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Waiter waiter;
        lock (this.gate)
        {
            if (!this.locks.TryGetValue(name, out var state))
            {
                this.locks[name] = state = new LockState();
            }

            if (state.Holder is null)
            {
                state.Holder = new Waiter(owner, ++this.nextToken);
                state.Holder.Granted.SetResult();
                return state.Holder.Token;
            }

            waiter = new Waiter(owner, ++this.nextToken);
            state.Waiters.AddLast(waiter);
        }

        try
        {
            await this.WaitAsync(waiter.Granted.Task, timeout, cancellationToken).ConfigureAwait(false);
            return waiter.Token;
        }
        catch (Exception ex)
        {
            // Whatever ended the wait, the waiter leaves the queue: one left there would be granted the lock for good.
            bool granted;
            lock (this.gate)
            {
                granted = waiter.Granted.Task.IsCompletedSuccessfully;
                // The lock's entry is gone when ReleaseOwner ended this wait (its connection went) and then the lock's
                // last holder and waiter.
                if (!granted && this.locks.TryGetValue(name, out var state))
                {
                    waiter.Granted.TrySetCanceled(CancellationToken.None);
                    state.Waiters.Remove(waiter);
                }
            }

            if (granted)
            {
                // Granted just as the wait ended: given back, since the caller will not know it holds it.
                this.Release(name, waiter.Token);
            }

            if (ex is TimeoutException)
            {
                throw new TimeoutException($"The lock '{name}' was not granted within {timeout}.", ex);
            }

            throw;
        }
    }

    /// <summary>
    /// Waits for <paramref name="granted"/> within any timeout: <see cref="TimeSpan.MaxValue"/> (about 29,000 years) is
    /// no end, and one longer than a timer can time is waited for in steps.
    /// </summary>
    private async Task WaitAsync(Task granted, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (timeout <= LongestTimer)
        {
            // Infinite (-1 ms) and a negative timeout are Task.WaitAsync's to take or refuse.
            await granted.WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (timeout == TimeSpan.MaxValue)
        {
            await granted.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        long started = timeProvider.GetTimestamp();
        while (true)
        {
            var left = timeout - timeProvider.GetElapsedTime(started);
            if (left <= LongestTimer)
            {
                await granted.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, timeProvider, cancellationToken).ConfigureAwait(false);
                return;
            }

            try
            {
                await granted.WaitAsync(LongestTimer, timeProvider, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (TimeoutException)
            {
                // More of the timeout is left: the next step waits for it.
            }
        }
    }

    /// <summary>Releases a lock held with <paramref name="token"/>, granting it to the next waiter.</summary>
    /// <returns>Whether the token held the lock.</returns>
    public bool Release(string name, long token)
    {
        lock (this.gate)
        {
            if (!this.locks.TryGetValue(name, out var state) || state.Holder?.Token != token)
            {
                return false;
            }

            this.GrantNext(name, state);
            return true;
        }
    }

    /// <summary>Releases every lock a connection holds and drops its waits.</summary>
    public void ReleaseOwner(long owner)
    {
        lock (this.gate)
        {
            foreach (var (name, state) in this.locks.ToArray())
            {
                for (var node = state.Waiters.First; node is not null;)
                {
                    var next = node.Next;
                    if (node.Value.Owner == owner)
                    {
                        node.Value.Granted.TrySetCanceled(CancellationToken.None);
                        state.Waiters.Remove(node);
                    }

                    node = next;
                }

                if (state.Holder?.Owner == owner)
                {
                    this.GrantNext(name, state);
                }
            }
        }
    }

    private void GrantNext(string name, LockState state)
    {
        state.Holder = null;
        while (state.Waiters.First is { } next)
        {
            state.Waiters.RemoveFirst();
            if (next.Value.Granted.TrySetResult())
            {
                state.Holder = next.Value;
                return;
            }
        }

        this.locks.Remove(name);
    }

    /// <summary>A lock's holder and waiters; read and changed only under the table's gate.</summary>
    private sealed class LockState
    {
        public Waiter? Holder { get; set; }

        public LinkedList<Waiter> Waiters { get; } = new();
    }

    private sealed class Waiter(long owner, long token)
    {
        public long Owner { get; } = owner;

        public long Token { get; } = token;

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
