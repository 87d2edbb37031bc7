using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Rx.SharedMemory.Redis;

/// <summary>
/// Masters and stores whose store is kept in Redis: every master that names the same store shares it with its
/// workers, on one machine or many. Workers cannot tell which engine their master uses.
/// </summary>
public static class RedisSharedMemory
{
    /// <summary>Connects to Redis and starts a master whose store is <see cref="RedisStoreOptions.StoreName"/> there.</summary>
    /// <param name="redis">Where the store lives.</param>
    /// <param name="options">The master's settings; <see langword="null"/> for the defaults. The store's bounds (MaxEntries, MaxBytes, the change log's) should be the same on every master of a store: each write applies the bounds of the master that sends it.</param>
    /// <param name="loggerFactory">Where the master logs; <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Cancels the connection attempt.</param>
    /// <returns>The master, serving the shared store to the workers it spawns.</returns>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    /// <exception cref="StackExchange.Redis.RedisConnectionException">Redis cannot be reached.</exception>
    public static async Task<SharedMemoryMaster> StartMasterAsync(RedisStoreOptions redis, SharedMemoryOptions? options = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        var (checkedRedis, checkedOptions) = Checked(redis, options);
        var engine = await RedisEngine.ConnectAsync(checkedRedis, checkedOptions, Logger(loggerFactory), cancellationToken).ConfigureAwait(false);
        return new SharedMemoryMaster(checkedOptions, loggerFactory, (_, _) => engine);
    }

    /// <summary>
    /// Connects to a store kept in Redis from a process that is not a worker of any master (a web server, a console
    /// tool): the same <see cref="ISharedStore"/> a worker has, and the same promises.
    /// </summary>
    /// <param name="redis">Where the store lives.</param>
    /// <param name="options">The bounds this process writes under; <see langword="null"/> for the defaults.</param>
    /// <param name="loggerFactory">Where it logs; <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Cancels the connection attempt.</param>
    /// <returns>The store; disposing it releases its locks and ephemeral keys and closes the connection.</returns>
    public static async Task<RedisSharedStore> ConnectStoreAsync(RedisStoreOptions redis, SharedMemoryOptions? options = null, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
    {
        var (checkedRedis, checkedOptions) = Checked(redis, options);
        var logger = Logger(loggerFactory);
        var engine = await RedisEngine.ConnectAsync(checkedRedis, checkedOptions, logger, cancellationToken).ConfigureAwait(false);
        return new RedisSharedStore(engine, checkedOptions, logger);
    }

    private static ILogger Logger(ILoggerFactory? loggerFactory) => (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Rx.SharedMemory.Redis");

    private static (RedisStoreOptions Redis, SharedMemoryOptions Options) Checked(RedisStoreOptions redis, SharedMemoryOptions? options)
    {
        ArgumentNullException.ThrowIfNull(redis);
        var checkedRedis = redis.Clone();
        checkedRedis.Validate();
        var checkedOptions = (options ?? new SharedMemoryOptions()).CheckedCopy();
        return (checkedRedis, checkedOptions);
    }
}
