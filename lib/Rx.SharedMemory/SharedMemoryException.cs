namespace Rx.SharedMemory;

/// <summary>The base of the exceptions that Rx.SharedMemory throws for its own failures.</summary>
public class SharedMemoryException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="SharedMemoryException"/> class.</summary>
    public SharedMemoryException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SharedMemoryException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public SharedMemoryException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
