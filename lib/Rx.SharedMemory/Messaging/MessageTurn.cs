namespace Rx.SharedMemory.Messaging;

/// <summary>
/// A message's turn among the messages of one sender that wait before they go (for the answers of the calls before
/// them, or for the store's changes): each takes its place once the one before it has, so that they keep the order
/// they were sent in.
/// </summary>
internal static class MessageTurn
{
    /// <summary>
    /// Passes <paramref name="turn"/> on once <paramref name="previous"/> has passed its own: for a message that gives up
    /// its place (canceled, or failed) before taking it, so that the next one still waits for the one before.
    /// </summary>
    public static void PassAfter(Task previous, TaskCompletionSource turn) =>
        _ = previous.ContinueWith(static (_, state) => ((TaskCompletionSource)state!).TrySetResult(), turn, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
