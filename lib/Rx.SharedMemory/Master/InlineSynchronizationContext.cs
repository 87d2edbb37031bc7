namespace Rx.SharedMemory.Master;

/// <summary>
/// Runs posted work at once on the posting thread: with it, JSON-RPC requests run on the connection's reader thread,
/// in the order they arrive. Only for handlers that never block.
/// </summary>
internal sealed class InlineSynchronizationContext : SynchronizationContext
{
    public static readonly InlineSynchronizationContext Instance = new();

    public override void Post(SendOrPostCallback d, object? state) => d(state);

    public override void Send(SendOrPostCallback d, object? state) => d(state);

    public override SynchronizationContext CreateCopy() => this;
}
