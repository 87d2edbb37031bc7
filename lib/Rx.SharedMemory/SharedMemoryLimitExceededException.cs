namespace Rx.SharedMemory;

/// <summary>A key or a value is larger than the master allows; nothing was stored.</summary>
public sealed class SharedMemoryLimitExceededException : SharedMemoryException
{
    /// <summary>Initializes a new instance of the <see cref="SharedMemoryLimitExceededException"/> class.</summary>
    public SharedMemoryLimitExceededException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryLimitExceededException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SharedMemoryLimitExceededException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryLimitExceededException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public SharedMemoryLimitExceededException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryLimitExceededException"/> class.</summary>
    /// <param name="key">The key of the refused operation (shortened when it is itself too long).</param>
    /// <param name="limitName">The name of the option that sets the limit, such as <c>MaxValueBytes</c>.</param>
    /// <param name="limit">The limit.</param>
    /// <param name="actual">The size that was refused.</param>
    public SharedMemoryLimitExceededException(string? key, string limitName, long limit, long actual)
        : base($"{DescribeKey(key)}: {actual} exceeds the limit {limitName} = {limit}.")
    {
        this.Key = key;
        this.LimitName = limitName;
        this.Limit = limit;
        this.Actual = actual;
    }

    /// <summary>A message between processes that is larger or deeper than the master allows: it has no key.</summary>
    private SharedMemoryLimitExceededException(string limitName, long limit, long actual)
        : base($"A message: {actual} exceeds the limit {limitName} = {limit}; it was not sent.")
    {
        this.LimitName = limitName;
        this.Limit = limit;
        this.Actual = actual;
    }

    /// <summary>Gets the key of the refused operation, when known.</summary>
    public string? Key { get; }

    /// <summary>Gets the name of the option that sets the limit, such as <c>MaxValueBytes</c>.</summary>
    public string? LimitName { get; }

    /// <summary>Gets the limit.</summary>
    public long Limit { get; }

    /// <summary>Gets the size that was refused.</summary>
    public long Actual { get; }

    /// <summary>Refuses a message between processes, naming the limit.</summary>
    internal static SharedMemoryLimitExceededException ForMessage(string limitName, long limit, long actual) => new(limitName, limit, actual);

    internal static string DescribeKey(string? key) => key is null
        ? "Key (unknown)"
        : key.Length <= 64 ? $"Key '{key}'" : $"Key '{key[..64]}…'";
}
