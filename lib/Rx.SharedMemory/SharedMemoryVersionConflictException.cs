namespace Rx.SharedMemory;

/// <summary>An optimistic update kept losing to other writers and gave up.</summary>
public sealed class SharedMemoryVersionConflictException : SharedMemoryException
{
    /// <summary>Initializes a new instance of the <see cref="SharedMemoryVersionConflictException"/> class.</summary>
    public SharedMemoryVersionConflictException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryVersionConflictException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SharedMemoryVersionConflictException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryVersionConflictException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public SharedMemoryVersionConflictException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryVersionConflictException"/> class.</summary>
    /// <param name="key">The key.</param>
    /// <param name="attempts">How many compare-and-set attempts were made.</param>
    public SharedMemoryVersionConflictException(string key, int attempts)
        : base($"{SharedMemoryLimitExceededException.DescribeKey(key)}: the update lost to other writers {attempts} times in a row and gave up.")
    {
        this.Key = key;
        this.Attempts = attempts;
    }

    /// <summary>Gets the key.</summary>
    public string? Key { get; }

    /// <summary>Gets how many compare-and-set attempts were made.</summary>
    public int Attempts { get; }
}
