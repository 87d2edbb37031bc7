using Rx.SharedMemory.Rpc;

namespace Rx.SharedMemory.Store;

/// <summary>
/// The bounds of <see cref="SharedMemoryOptions"/> as the store applies them: the inputs it refuses (key length, value
/// size and depth), and whether its entries fit <see cref="SharedMemoryOptions.MaxEntries"/> and
/// <see cref="SharedMemoryOptions.MaxBytes"/>. Each refusal names the key and the limit.
/// </summary>
internal sealed class StoreLimits(SharedMemoryOptions options)
{
    public void ValidateWrite(string key, byte[] utf8Json)
    {
        this.ValidateKey(key);
        if (utf8Json.Length > options.MaxValueBytes)
        {
            throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxValueBytes), options.MaxValueBytes, utf8Json.Length);
        }

        // Every write passes here, from a worker or from master.Store: a value the store holds is one every worker can read.
        InputRules.ThrowIfTooDeep(key, utf8Json);
        InputRules.ThrowIfLoneSurrogate(key, utf8Json);
    }

    public void ValidateKey(string key)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw new ArgumentException("A key must be a non-empty string.", nameof(key));
        }

        InputRules.ThrowIfNotUtf16(key, nameof(key));

        InputRules.ThrowIfTooLong(key, options.MaxKeyLength);
    }

    public void ValidateSubscription(StoreSubscription subscription)
    {
        if (!subscription.IsPrefix)
        {
            this.ValidateKey(subscription.KeyOrPrefix);
            return;
        }

        InputRules.ThrowIfTooLong(subscription.KeyOrPrefix, options.MaxKeyLength);

        InputRules.ThrowIfNotUtf16(subscription.KeyOrPrefix, "prefix");
    }

    /// <summary>
    /// Whether a write of <paramref name="size"/> bytes to <paramref name="key"/>, leaving the store with
    /// <paramref name="entriesAfter"/> entries of <paramref name="bytesAfter"/> bytes, needs least recently used keys
    /// evicted first.
    /// </summary>
    /// <exception cref="SharedMemoryLimitExceededException">The value alone exceeds MaxBytes, or the write exceeds a bound under <see cref="EvictionPolicy.NoEviction"/>.</exception>
    public bool MustEvict(string key, long size, long entriesAfter, long bytesAfter)
    {
        if (options.MaxBytes is { } maxBytes && size > maxBytes)
        {
            throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxBytes), maxBytes, size);
        }

        if (options.EvictionPolicy != EvictionPolicy.NoEviction)
        {
            return this.Exceeded(entriesAfter, bytesAfter);
        }

        if (entriesAfter > (options.MaxEntries ?? int.MaxValue))
        {
            throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxEntries), options.MaxEntries!.Value, entriesAfter);
        }

        if (bytesAfter > (options.MaxBytes ?? long.MaxValue))
        {
            throw new SharedMemoryLimitExceededException(key, nameof(SharedMemoryOptions.MaxBytes), options.MaxBytes!.Value, bytesAfter);
        }

        return false;
    }

    /// <summary>Whether <paramref name="entries"/> entries of <paramref name="bytes"/> bytes exceed MaxEntries or MaxBytes.</summary>
    public bool Exceeded(long entries, long bytes) =>
        entries > (options.MaxEntries ?? int.MaxValue) || bytes > (options.MaxBytes ?? long.MaxValue);
}
