namespace Rx.SharedMemory;

/// <summary>
/// The store's engine did not complete the call: the Redis server behind a master was unreachable, restarting or
/// failing over. For a write the outcome is unknown: it may or may not have committed, and it is never retried
/// behind the caller's back (a retry could apply it twice). Read the key, or compare-and-set, to find out.
/// </summary>
public sealed class SharedMemoryUnavailableException : SharedMemoryException
{
    /// <summary>Initializes a new instance of the <see cref="SharedMemoryUnavailableException"/> class.</summary>
    public SharedMemoryUnavailableException()
        : base("The store is unavailable: the call's outcome is unknown.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryUnavailableException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SharedMemoryUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryUnavailableException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public SharedMemoryUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
