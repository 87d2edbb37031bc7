namespace Rx.SharedMemory.Redis;

/// <summary>Where a store kept in Redis lives, and how the masters that share it keep their leases.</summary>
public sealed class RedisStoreOptions
{
    /// <summary>Gets or sets the StackExchange.Redis configuration string, for example <c>localhost:6379</c>.</summary>
    public string Configuration { get; set; } = "localhost:6379";

    /// <summary>
    /// Gets or sets the store's name: masters that give the same name share one store. Every Redis key of the store
    /// starts with <c>{name}:</c>, a hash tag, so that one store lives in one Redis Cluster slot.
    /// </summary>
    public string StoreName { get; set; } = "rx-shared-memory";

    /// <summary>
    /// Gets or sets how long a master's locks and its workers' ephemeral keys outlive it when it dies without closing
    /// (a <c>kill -9</c>, a lost machine): every master renews a lease of this length five times per lease, and
    /// releases what another held once that one's lease has run out, so within 1.2 times this of its death. Default
    /// 4 s: a live master must not go longer than four fifths of it without renewing (a pause, a loaded machine), or
    /// the others release what it holds.
    /// </summary>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>Creates a copy, so that later changes to this instance do not reach an engine built from it.</summary>
    internal RedisStoreOptions Clone() => (RedisStoreOptions)this.MemberwiseClone();

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentException">A setting is invalid; the message names it.</exception>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(this.Configuration))
        {
            throw new ArgumentException("RedisStoreOptions.Configuration must name a Redis server.", nameof(this.Configuration));
        }

        if (string.IsNullOrEmpty(this.StoreName) || this.StoreName.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            throw new ArgumentException($"RedisStoreOptions.StoreName must be non-empty and hold no '{{' or '}}' (it is a hash tag): '{this.StoreName}'.", nameof(this.StoreName));
        }

        if (this.LeaseTime < TimeSpan.FromMilliseconds(300))
        {
            throw new ArgumentOutOfRangeException(nameof(this.LeaseTime), this.LeaseTime, "RedisStoreOptions.LeaseTime must be at least 300 ms.");
        }
    }
}
