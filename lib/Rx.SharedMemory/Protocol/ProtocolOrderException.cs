namespace Rx.SharedMemory.Protocol;

/// <summary>
/// A request the connection's state does not allow: anything before <c>hello</c>, or a second <c>hello</c>. The
/// master answers it with <see cref="RpcErrorCodes.OutOfOrder"/>; the connection goes on.
/// </summary>
internal sealed class ProtocolOrderException : InvalidOperationException
{
    public ProtocolOrderException()
    {
    }

    public ProtocolOrderException(string message)
        : base(message)
    {
    }

    public ProtocolOrderException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
