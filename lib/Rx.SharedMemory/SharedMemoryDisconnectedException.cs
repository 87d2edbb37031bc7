namespace Rx.SharedMemory;

/// <summary>
/// The connection between a worker and its master is lost: the master exited or closed the connection. Calls that
/// were pending, every later call, and every observable of the worker end with this exception.
/// </summary>
public sealed class SharedMemoryDisconnectedException : SharedMemoryException
{
    /// <summary>Initializes a new instance of the <see cref="SharedMemoryDisconnectedException"/> class.</summary>
    public SharedMemoryDisconnectedException()
        : base("The connection to the shared memory master is lost.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryDisconnectedException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SharedMemoryDisconnectedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryDisconnectedException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public SharedMemoryDisconnectedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
