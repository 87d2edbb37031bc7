using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.VisualStudio.Threading;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Redis.Logging;
using Rx.SharedMemory.Store;
using StackExchange.Redis;

namespace Rx.SharedMemory.Redis;

/// <summary>
/// The engine that keeps the store in Redis, shared by every master that names it. Each operation is one call of a function
/// (<see cref="RedisScripts"/>), but a get where a read is not a use, which plain commands answer (<see cref="ReadAsync"/>).
/// The changes reach this master's subscriptions through one reader of the change log (<see cref="RedisChangeFeed"/>); a write returns once its own change has been read back, so that a master's
/// subscribers have seen a write when its caller learns it committed, as with the embedded engine.
/// </summary>
internal sealed class RedisEngine : IStoreEngine
{
    /// <summary>What <see cref="Sending"/> is told of a get read with plain commands (<see cref="ReadAsync"/>).</summary>
    internal const string ReadCommands = "HGET";

    private readonly IConnectionMultiplexer redis;
    private readonly IDatabase db;
    private readonly RedisKey[] tag;
    private readonly RedisKey metaKey;
    private readonly RedisKey valuesKey;
    private readonly RedisValue[] bounds;
    private readonly StoreLimits limits;

    // A read counts as a use (a write to the LRU set) only where a bound can evict: it costs a get as much again.
    private readonly bool readsAreUses;
    private readonly RedisStoreOptions redisOptions;
    private readonly TimeSpan callTimeout;
    private readonly ILogger logger;
    private readonly RedisChangeFeed feed;
    private readonly RedisLocks locks;
    private readonly CancellationTokenSource stopping = new();
    private readonly AsyncAutoResetEvent expiryWake = new();
    private readonly Task expiryLoop;
    private readonly Task leaseLoop;
    private int disposed;

    // The store's size as the instruments report it: read from the lease loop, never on a listener's thread (a round
    // trip there would hold up the listener's every other instrument); null before the first read and after a failed one.
    private volatile StoreSize? size;

    // 1 while a read of the size is in flight (Interlocked): the lease loop starts one without waiting for it, so that
    // a slow read never delays a renewal, and never starts a second.
    private int readingSize;

    private RedisEngine(IConnectionMultiplexer redis, RedisStoreOptions redisOptions, SharedMemoryOptions options, string masterId, long version, TimeSpan callTimeout, ILogger logger)
    {
        this.redis = redis;
        this.callTimeout = callTimeout;
        this.db = redis.GetDatabase();
        this.redisOptions = redisOptions;
        this.logger = logger;
        this.MasterId = masterId;
        this.tag = [Tag(redisOptions.StoreName)];
        this.metaKey = this.Key("meta");
        this.valuesKey = this.Key("values");
        this.bounds = RedisScripts.Bounds(options);
        this.limits = new StoreLimits(options);
        this.readsAreUses = (options.MaxEntries is not null || options.MaxBytes is not null) && options.EvictionPolicy != EvictionPolicy.NoEviction;
        this.feed = new RedisChangeFeed(this, version, logger);
        this.locks = new RedisLocks(this);
        // The engine's loops serve every caller: none runs in the context of the one that started the master.
        this.expiryLoop = Detached.RunAsync(this.ExpireAsync);
        this.leaseLoop = Detached.RunAsync(this.KeepLeaseAsync);
    }

    /// <summary>Gets this master's id among the store's masters (16 random hex digits); its owners are named <c>m{id}/w{worker}</c>.</summary>
    public string MasterId { get; }

    public long Version => this.Read(() => (long)this.db.StringGet(this.Key("version")));

    public int Count => this.Read(() => (int)this.db.HashLength(this.Key("values")));

    public long Bytes => this.Read(() => (long)this.db.StringGet(this.Key("bytes")));

    public int SubscriptionCount => this.feed.Count;

    public StoreSize? Size => this.size;

    internal IDatabase Database => this.db;

    /// <summary>Gets this master's reader of the change log, for tests.</summary>
    internal RedisChangeFeed Feed => this.feed;

    internal ISubscriber Subscriber => this.redis.GetSubscriber();

    /// <summary>Gets this master's waits for the store's locks, for tests.</summary>
    internal RedisLocks Locks => this.locks;

    internal CancellationToken Stopping => this.stopping.Token;

    internal ILogger Logger => this.logger;

    /// <summary>
    /// Gets or sets a test hook, told the function of each call this engine sends (a batch's once, as
    /// <see cref="RedisScripts.Batch"/>), or <see cref="ReadCommands"/> for a get's plain commands.
    /// </summary>
    internal Action<string>? Sending { get; set; }

    /// <summary>Connects to Redis, joins the store as a new master, and starts reading its changes from the current version.</summary>
    public static async Task<RedisEngine> ConnectAsync(RedisStoreOptions redisOptions, SharedMemoryOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        var configuration = ConfigurationOptions.Parse(redisOptions.Configuration);
        configuration.AbortOnConnectFail = false;
        var redis = await ConnectionMultiplexer.ConnectAsync(configuration).WaitAsync(cancellationToken).ConfigureAwait(false);
        RedisEngine? engine = null;
        try
        {
            var db = redis.GetDatabase();
            RedisKey[] tag = [Tag(redisOptions.StoreName)];
            await LoadLibraryAsync(redis).WaitAsync(cancellationToken).ConfigureAwait(false);
            // Random, not counted in the store: a store that restarted empty, or failed over to a replica without
            // the last count, would hand a running master's id to a new one, whose locks and keys its leaving released.
            string masterId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            await CallAsync(redis, db, tag, RedisScripts.Bounds(options), RedisScripts.Renew, masterId, (long)redisOptions.LeaseTime.TotalMilliseconds).WaitAsync(cancellationToken).ConfigureAwait(false);
            long version = (long)await db.StringGetAsync($"{tag[0]}:version").WaitAsync(cancellationToken).ConfigureAwait(false);
            engine = new RedisEngine(redis, redisOptions, options, masterId, version, TimeSpan.FromMilliseconds(configuration.AsyncTimeout), logger);
            await engine.feed.StartAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            await engine.locks.StartAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            return engine;
        }
        catch
        {
            if (engine is not null)
            {
                // Its loops have started: they end with it, and its lease is given back.
                engine.Dispose();
            }
            else
            {
                await redis.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    public async ValueTask<StoredValue?> GetAsync(string key, CancellationToken cancellationToken)
    {
        this.limits.ValidateKey(key);

        // A get that counts as a use is a write, and one in a batch must run in the batch's order: both go to the function.
        if (!this.readsAreUses && !RedisCallBatch.IsOpen(this) && await this.ReadAsync(key, cancellationToken).ConfigureAwait(false) is (true, var stored))
        {
            return stored;
        }

        var result = (RedisResult[])(await this.RunAsync(RedisScripts.Get, cancellationToken, key, this.readsAreUses ? 1 : 0).ConfigureAwait(false))!;
        return result.Length == 0 ? null : new StoredValue((byte[])result[0]!, (long)result[1]);
    }

    /// <summary>
    /// Reads a key with plain commands in one round trip instead of a function call, which costs Redis about ten times
    /// as much (a call's own cost and one per command inside it): the key's entry, its value, its entry again, and
    /// Redis's clock. Every write of a key changes its entry's version, so an entry read the same before and after its
    /// value says the value is that version's; a deadline after the clock read next says the key had not expired.
    /// Returns Read false where the function must read it: the entry changed between the reads, the key's deadline has
    /// passed (the function expires it, with its change), or its entry is of an older form.
    /// </summary>
    private async Task<(bool Read, StoredValue? Value)> ReadAsync(string key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        this.Sending?.Invoke(ReadCommands);
        RedisValue before, value, after;
        long now;
        try
        {
            // Sent in this order on one connection, so Redis runs them in this order (in a cluster, TIME, which names no
            // key, may go to another node: its clock). All awaited: when Redis fails, each fails, none left unobserved.
            var first = this.db.HashGetAsync(this.metaKey, key);
            var second = this.db.HashGetAsync(this.valuesKey, key);
            var third = this.db.HashGetAsync(this.metaKey, key);
            var clock = this.db.ExecuteAsync("TIME");

            // On the thread pool, never on the thread that read Redis's answer (as OffTheReaderAsync).
            await Task.WhenAll(first, second, third, clock).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
            (before, value, after) = (await first.ConfigureAwait(false), await second.ConfigureAwait(false), await third.ConfigureAwait(false));

            // Seconds and microseconds, to Unix ms as the functions read it.
            var time = (RedisResult[])(await clock.ConfigureAwait(false))!;
            now = ((long)time[0] * 1000) + ((long)time[1] / 1000);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw this.Unavailable(ex);
        }

        if (before != after)
        {
            return default;
        }

        if (before.IsNull)
        {
            return (true, null);
        }

        // "version,stamp,deadline,owned,length"; a deadline is Unix ms by Redis's clock, and due when not after it.
        var entry = ((string)before!).Split(',');
        if (entry.Length != 5 || value.IsNull
            || (entry[2] != "0" && long.Parse(entry[2], CultureInfo.InvariantCulture) <= now))
        {
            return default;
        }

        return (true, new StoredValue((byte[])value!, long.Parse(entry[0], CultureInfo.InvariantCulture)));
    }

    public async ValueTask<long> SetAsync(string key, byte[] utf8Json, TimeSpan? timeToLive, long owner, string? traceParent, CancellationToken cancellationToken)
    {
        this.limits.ValidateWrite(key, utf8Json);
        var result = Checked(key, await this.RunAsync(RedisScripts.Set, cancellationToken, key, utf8Json, Milliseconds(timeToLive), this.EphemeralOwner(owner), traceParent ?? string.Empty, this.feed.Position).ConfigureAwait(false));
        long version = (long)result[1];
        await this.CommittedAsync(version, result[2]).ConfigureAwait(false);
        return version;
    }

    public async ValueTask<CompareAndSetResult> CompareAndSetAsync(string key, long expectedVersion, byte[] utf8Json, TimeSpan? timeToLive, long owner, string? traceParent, CancellationToken cancellationToken)
    {
        this.limits.ValidateWrite(key, utf8Json);
        var result = Checked(key, await this.RunAsync(RedisScripts.CompareAndSet, cancellationToken, key, utf8Json, Milliseconds(timeToLive), this.EphemeralOwner(owner), expectedVersion, traceParent ?? string.Empty, this.feed.Position).ConfigureAwait(false));
        bool succeeded = (long)result[1] == 1;
        long version = (long)result[2];
        if (succeeded)
        {
            await this.CommittedAsync(version, result[3]).ConfigureAwait(false);
        }

        return new CompareAndSetResult(succeeded, version);
    }

    public async ValueTask<(long Value, long Version)> IncrementAsync(string key, long delta, string? traceParent, CancellationToken cancellationToken)
    {
        this.limits.ValidateKey(key);
        var result = Checked(key, await this.RunAsync(RedisScripts.Increment, cancellationToken, key, delta, traceParent ?? string.Empty, this.feed.Position).ConfigureAwait(false));
        switch ((long)result[0])
        {
            case -2:
                throw new InvalidOperationException($"{SharedMemoryLimitExceededException.DescribeKey(key)} holds {(string?)result[1]}, not an integer: it cannot be incremented.");
            case -3:
                throw new InvalidOperationException($"{SharedMemoryLimitExceededException.DescribeKey(key)}: {(string?)result[1]} + {delta} overflows a 64-bit integer.");
        }

        long value = long.Parse((string)result[1]!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        long version = (long)result[2];
        await this.CommittedAsync(version, result[3]).ConfigureAwait(false);
        return (value, version);
    }

    public async ValueTask<long> DeleteAsync(string key, string? traceParent, CancellationToken cancellationToken)
    {
        this.limits.ValidateKey(key);
        var result = (RedisResult[])(await this.RunAsync(RedisScripts.Delete, cancellationToken, key, traceParent ?? string.Empty, this.feed.Position).ConfigureAwait(false))!;
        long version = (long)result[0];
        if (version != 0)
        {
            await this.CommittedAsync(version, result[1]).ConfigureAwait(false);
        }

        return version;
    }

    /// <summary>
    /// Returns once this master's subscriptions have been handed the change at <paramref name="version"/>: from the log's
    /// entries its script returned, or else once the reader reads it. Not cancellable: the write stands.
    /// </summary>
    private Task CommittedAsync(long version, RedisResult entries)
    {
        this.feed.HandOutFromWrite(entries);
        return this.ReachedWhileReadingAsync(version, CancellationToken.None);
    }

    /// <summary>
    /// Completes once the reader has handed out a committed change (at <paramref name="version"/>) and the changes
    /// before it, waiting for as long as it reads on, however far it has to go. A reader that has read nothing for a
    /// call's timeout cannot reach Redis: the caller then fails as a call Redis did not answer in time, where it would
    /// wait for Redis to come back.
    /// </summary>
    private Task ReachedWhileReadingAsync(long version, CancellationToken cancellationToken)
    {
        var reached = this.feed.ReachedAsync(version, CancellationToken.None);
        return reached.IsCompleted ? reached : this.WaitWhileReadingAsync(reached, version, cancellationToken);
    }

    private async Task WaitWhileReadingAsync(Task reached, long version, CancellationToken cancellationToken)
    {
        long position = this.feed.Position;
        while (true)
        {
            try
            {
                await reached.WaitAsync(this.callTimeout, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (TimeoutException ex)
            {
                long now = this.feed.Position;
                if (now == position)
                {
                    throw new SharedMemoryUnavailableException($"A change to the Redis store '{this.redisOptions.StoreName}' committed at version {version}, but this master has read no change of the store for {this.callTimeout.TotalMilliseconds:0} ms (Redis out of reach?), and its answer does not go ahead of the changes committed before it.", ex);
                }

                position = now;
            }
        }
    }

    public Task<long> LockAsync(string name, long owner, TimeSpan timeout, CancellationToken cancellationToken) =>
        this.locks.AcquireAsync(name, this.OwnerName(owner), timeout, cancellationToken);

    public ValueTask<bool> UnlockAsync(string name, long token, long owner, CancellationToken cancellationToken) =>
        this.locks.ReleaseAsync(name, token, this.OwnerName(owner), cancellationToken);

    public async ValueTask ReleaseOwnerAsync(long owner, CancellationToken cancellationToken)
    {
        string name = this.OwnerName(owner);
        this.locks.AbandonWaitsOf(name);
        long version = (long)(await this.RunAsync(RedisScripts.ReleaseOwner, cancellationToken, name).ConfigureAwait(false))!;
        this.locks.ForgetLocksOf(name);
        // Committed: the release stands. Bounded as a write's wait, so that a worker's exit is reported while Redis is out.
        await this.ReachedWhileReadingAsync(version, cancellationToken).ConfigureAwait(false);
    }

    // The store's version now is at least that of every change committed before: once the reader has handed it out, so
    // has it those.
    public async ValueTask<long> CatchUpPointAsync(CancellationToken cancellationToken)
    {
        var read = OffTheReaderAsync(this.db.StringGetAsync(this.Key("version")));
        try
        {
            return (long)await read.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw new SharedMemoryUnavailableException($"The Redis store '{this.redisOptions.StoreName}' could not be read to order the message after the changes committed before it ({ex.Message}); the message was not sent.", ex);
        }
        catch (OperationCanceledException)
        {
            // The read goes on without its caller.
            Detached.ObserveFailure(read);
            throw;
        }
    }

    public ValueTask CaughtUpAsync(long point, ChangeOutbox outbox, CancellationToken cancellationToken) =>
        new(this.feed.QueuedAsync(point, outbox, cancellationToken));

    public ValueTask<long> SubscribeAsync(StoreSubscription subscription, long? fromVersion, CancellationToken cancellationToken)
    {
        this.limits.ValidateSubscription(subscription);
        return this.feed.SubscribeAsync(subscription, fromVersion, cancellationToken);
    }

    public long SubscribeLive(StoreSubscription subscription)
    {
        this.limits.ValidateSubscription(subscription);
        return this.feed.SubscribeLive(subscription);
    }

    public void Unsubscribe(StoreSubscription subscription) => this.feed.Unsubscribe(subscription);

    /// <inheritdoc/>
    public IDisposable? BeginBatch(long getBytesBudget = -1) => RedisCallBatch.Begin(this, getBytesBudget);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref this.disposed, 1) != 0)
        {
            return;
        }

        this.stopping.Cancel();
        this.expiryWake.Set();
        try
        {
            // The loops end at the cancellation; a master leaving in order gives its lease back at once.
#pragma warning disable VSTHRD002 // Dispose is synchronous by the seam's contract; the loops end without this thread.
            try
            {
                Task.WhenAll(this.expiryLoop, this.leaseLoop, this.feed.StopAsync()).Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException ex)
            {
                this.logger.LoopEndedWithError(ex, this.redisOptions.StoreName);
            }

            this.RunAsync(RedisScripts.Leave, CancellationToken.None, this.MasterId).Wait(TimeSpan.FromSeconds(5));
#pragma warning restore VSTHRD002
        }
        catch (Exception ex) when (ex is AggregateException || IsRedisFailure(ex))
        {
            this.logger.LeaveFailed(ex, this.redisOptions.StoreName);
        }
        finally
        {
            this.redis.Dispose();
            this.stopping.Dispose();
        }
    }

    /// <summary>
    /// Calls one of the library's functions (<see cref="RedisScripts"/>) with the store's tag and bounds, then
    /// <paramref name="arguments"/>; sent before this returns. A failure of Redis becomes
    /// <see cref="SharedMemoryUnavailableException"/>: the function may have run, so it is not sent again.
    /// </summary>
    internal async Task<RedisResult> RunAsync(string function, CancellationToken cancellationToken, params RedisValue[] arguments)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            // Not cancelled once sent: a function runs whole or not at all, and its outcome is the caller's. In a batch
            // (BeginBatch), sent with the batch's other calls.
            return await (RedisCallBatch.JoinAsync(this, function, arguments) ?? this.CallAsync(function, arguments)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw this.Unavailable(ex);
        }
    }

    private SharedMemoryUnavailableException Unavailable(Exception ex) =>
        IsOutOfMemory(ex)
            ? new($"The Redis store '{this.redisOptions.StoreName}' refused the call: Redis is out of memory ({ex.Message}). Nothing was written; the engine needs maxmemory-policy noeviction and room under maxmemory.", ex)
            : new($"The Redis store '{this.redisOptions.StoreName}' did not complete the call ({ex.Message}). A write may or may not have committed; it is not sent again.", ex);

    /// <summary>
    /// Whether Redis refused a call for want of memory: it refuses a function that may write before running it (one
    /// that has begun runs to its end), so the call did nothing.
    /// </summary>
    private static bool IsOutOfMemory(Exception ex) => ex is RedisServerException && ex.Message.StartsWith("OOM ", StringComparison.Ordinal);

    /// <summary>A plain read of the store's counters, its failure as a call's (<see cref="SharedMemoryUnavailableException"/>).</summary>
    private T Read<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw new SharedMemoryUnavailableException($"The Redis store '{this.redisOptions.StoreName}' could not be read ({ex.Message}).", ex);
        }
    }

    /// <summary>Whether <paramref name="exception"/> says Redis failed (unreachable, timed out, restarting), as opposed to a fault of ours.</summary>
    internal static bool IsRedisFailure(Exception exception) => exception is RedisException or TimeoutException or SharedMemoryUnavailableException;

    /// <summary>
    /// Runs until <paramref name="attempt"/> succeeds or the engine stops; after each failure of Redis (or, with
    /// <paramref name="anyFailure"/>, of any kind), tells <paramref name="failed"/> and pauses, 100 ms at first, doubling
    /// up to 5 s. Any other failure ends it.
    /// </summary>
    internal async Task RetryUntilStoppedAsync(Func<Task> attempt, Action<Exception> failed, bool anyFailure = false)
    {
        var stopping = this.stopping.Token;
        for (var pause = TimeSpan.FromMilliseconds(100); !stopping.IsCancellationRequested; pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.TicksPerSecond * 5)))
        {
            try
            {
                await attempt().ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (anyFailure || IsRedisFailure(ex))
            {
                failed(ex);
                await Task.Delay(pause, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>
    /// Continues on the thread pool, never inline on the thread that read Redis's answer: what follows (handing out
    /// changes, answering a worker) would hold up every other answer on the connection.
    /// </summary>
    internal static async Task<T> OffTheReaderAsync<T>(Task<T> answer)
    {
        await answer.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        return answer.Result;
    }

    /// <summary>Sends one call of a function of the library, with this store's tag and bounds.</summary>
    internal Task<RedisResult> CallAsync(string function, RedisValue[] arguments)
    {
        this.Sending?.Invoke(function);
        return CallAsync(this.redis, this.db, this.tag, this.bounds, function, arguments);
    }

    internal RedisKey Key(string name) => $"{this.tag[0]}:{name}";

    internal RedisChannel Channel(string name) => RedisChannel.Literal($"{this.tag[0]}:{name}");

    /// <summary>Wakes the expiry loop: a change carried a deadline that may come before the one it waits for.</summary>
    internal void DeadlineSeen() => this.expiryWake.Set();

    private static RedisKey Tag(string storeName) => "{" + storeName + "}";

    /// <summary>
    /// Calls a function of the library with the store's tag and bounds, then <paramref name="arguments"/>; sent now, in
    /// call order. Where Redis does not have the library (a server restarted empty, a failover to a node that never
    /// had it), it is loaded and the call sent once more: a call to a function Redis does not have never ran.
    /// </summary>
    private static async Task<RedisResult> CallAsync(IConnectionMultiplexer redis, IDatabase db, RedisKey[] tag, RedisValue[] bounds, string function, params RedisValue[] arguments)
    {
        var call = new object[3 + bounds.Length + arguments.Length];
        call[0] = function;
        call[1] = 1;
        call[2] = tag[0];
        for (int i = 0; i < bounds.Length; i++)
        {
            call[3 + i] = bounds[i];
        }

        for (int i = 0; i < arguments.Length; i++)
        {
            call[3 + bounds.Length + i] = arguments[i];
        }

        try
        {
            return await OffTheReaderAsync(db.ExecuteAsync("FCALL", call)).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("Function not found", StringComparison.OrdinalIgnoreCase))
        {
            await LoadLibraryAsync(redis).ConfigureAwait(false);
            return await OffTheReaderAsync(db.ExecuteAsync("FCALL", call)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Loads the library (<see cref="RedisScripts.Library"/>) on every primary this connection knows, each of which
    /// may hold a store: one that has it already keeps it.
    /// </summary>
    private static async Task LoadLibraryAsync(IConnectionMultiplexer redis)
    {
        foreach (var server in redis.GetServers())
        {
            if (server.IsReplica || !server.IsConnected)
            {
                continue;
            }

            try
            {
                await server.ExecuteAsync("FUNCTION", "LOAD", RedisScripts.Library).ConfigureAwait(false);
            }
            catch (RedisServerException ex) when (ex.Message.Contains("already exists", StringComparison.OrdinalIgnoreCase))
            {
                // Loaded by another master, or by this one before: the name is the source's hash, so it is this one.
            }
        }
    }

    private static long Milliseconds(TimeSpan? timeToLive) => timeToLive switch
    {
        null => 0,

        // Past a century the store keeps it as long as it can; Lua's numbers hold milliseconds exactly to 2^53.
        { TotalDays: > 36_500 } => (long)TimeSpan.FromDays(36_500).TotalMilliseconds,
        { } ttl => Math.Max(1, (long)Math.Ceiling(ttl.TotalMilliseconds)),
    };

    /// <summary>A script's result, or the limit error it reports.</summary>
    private static RedisResult[] Checked(string key, RedisResult result)
    {
        var array = (RedisResult[])result!;
        if ((long)array[0] == -1)
        {
            throw new SharedMemoryLimitExceededException(key, (string)array[1]!, (long)array[2], (long)array[3]);
        }

        return array;
    }

    /// <summary>An owner as the store names it across masters: <c>m{master}/w{worker}</c>, worker 0 being the master itself.</summary>
    private string OwnerName(long owner) => $"m{this.MasterId}/w{owner}";

    /// <summary>
    /// The owner of an ephemeral key; '' for none (owner 0). The master's own keys (its <c>Store</c>'s, or a
    /// <see cref="RedisSharedStore"/>'s) are held by the name its locks are, so that its leaving, its lease or the
    /// store's disposal deletes them, since the store outlives the master.
    /// </summary>
    private string EphemeralOwner(long owner) => owner switch
    {
        0 => string.Empty,
        IStoreEngine.MasterEphemeralOwner => this.OwnerName(0),
        _ => this.OwnerName(owner),
    };

    private async Task ExpireAsync()
    {
        var token = this.stopping.Token;
        while (!token.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                var result = (RedisResult[])(await this.RunAsync(RedisScripts.ExpireDue, token).ConfigureAwait(false))!;
                long next = (long)result[0];
                long now = (long)result[1];

                // Without a deadline known, a look every 250 ms: a deadline another master set wakes this loop through
                // the change that carried it, and this bound covers a change missed while reconnecting.
                wait = TimeSpan.FromMilliseconds(next < 0 ? 250 : Math.Clamp(next - now + 1, 0, 250));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                this.logger.ExpiryPassFailed(ex, this.redisOptions.StoreName);
                wait = TimeSpan.FromMilliseconds(250);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (wait > TimeSpan.Zero && !await RedisChangeFeed.WaitAsync(this.expiryWake, wait, token).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Reads the store's size for the instruments (<see cref="Size"/>), in one script. It never fails: nobody waits
    /// for it but tests, and a failure leaves no size, so that the instruments report nothing rather than a value of
    /// unknown age.
    /// </summary>
    /// <returns>A task that completes once <see cref="Size"/> is set.</returns>
    internal async Task RefreshSizeAsync()
    {
        try
        {
            var read = (RedisResult[])(await this.RunAsync(RedisScripts.Size, this.stopping.Token).ConfigureAwait(false))!;
            this.size = new StoreSize((long)read[0], (long)read[1], (long)read[2]);
        }
        catch (Exception)
        {
            this.size = null;
        }
        finally
        {
            Volatile.Write(ref this.readingSize, 0);
        }
    }

    private async Task KeepLeaseAsync()
    {
        var token = this.stopping.Token;
        // Renewed five times per lease: a master survives a stall of four fifths of it.
        var period = this.redisOptions.LeaseTime / 5;
        long lease = (long)this.redisOptions.LeaseTime.TotalMilliseconds;

        while (!token.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, token).ConfigureAwait(false);
                var held = (long)(await this.RunAsync(RedisScripts.Renew, token, this.MasterId, lease).ConfigureAwait(false))!;
                if (held == 0)
                {
                    // Paused or cut off past its lease: the other masters have released its locks and its workers'
                    // ephemeral keys, which its workers may still believe they hold.
                    this.logger.OwnLeaseRanOut(this.MasterId, this.redisOptions.StoreName);

                    // Its lock waits were taken out of their queues too: they would wait for nothing.
                    this.locks.LeaseLost();
                }

                var reaped = (RedisResult[])(await this.RunAsync(RedisScripts.Reap, token).ConfigureAwait(false))!;
                foreach (var master in reaped)
                {
                    this.logger.MasterReaped((string?)master, this.redisOptions.StoreName);
                }

                if (Interlocked.Exchange(ref this.readingSize, 1) == 0)
                {
                    _ = this.RefreshSizeAsync();
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (!token.IsCancellationRequested)
            {
                // Whatever failed, the loop goes on: a master that stops renewing loses its workers' locks and keys.
                this.logger.LeaseRenewalFailed(ex, this.MasterId, this.redisOptions.StoreName);
            }
        }
    }
}
