using Rx.SharedMemory.Diagnostics;

namespace Rx.SharedMemory.Messaging;

/// <summary>
/// The order of one sender's messages to one receiver, where a message may have to wait before it goes (for the answers
/// of the calls made before it, or for the store's changes committed before it): each goes once what it waits for is
/// done and the message before it has gone, so that they keep the order they were sent in. One per sender and receiver.
/// </summary>
internal sealed class MessageTurns
{
    private readonly Lock gate = new();

    // The last message that had to wait, until it has gone (or given up its place): the next one goes after it.
    private Task lastWaiting = Task.CompletedTask;

    /// <summary>
    /// Starts <paramref name="send"/> once <paramref name="before"/> has completed and every message given before it
    /// has started its own; at once when nothing waits. Not at all when <paramref name="before"/> fails (its failure is
    /// the returned task's) or the token is canceled first.
    /// </summary>
    /// <returns>The send's task.</returns>
    public Task SendAsync(Task before, Func<Task> send, CancellationToken cancellationToken)
    {
        lock (this.gate)
        {
            if (before.IsCompleted && this.lastWaiting.IsCompleted)
            {
                return before.IsCompletedSuccessfully ? send() : before;
            }

            var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var sent = SendAfterAsync(before, this.lastWaiting, turn, send, cancellationToken);
            this.lastWaiting = turn.Task;
            return sent;
        }
    }

    private static async Task SendAfterAsync(Task before, Task previous, TaskCompletionSource turn, Func<Task> send, CancellationToken cancellationToken)
    {
        try
        {
            await previous.WaitAsync(cancellationToken).ConfigureAwait(false); // never faults
            await before.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Not sent: the next message still goes after the one before this one, once that has gone. What this one
            // waited for may fail later, with nobody to observe it.
            _ = previous.ContinueWith(static (_, state) => ((TaskCompletionSource)state!).TrySetResult(), turn, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            Detached.ObserveFailure(before);
            throw;
        }

        Task sent;
        try
        {
            sent = send();
        }
        finally
        {
            // Once it has begun: a connection sends its messages in the order they are handed to it.
            turn.SetResult();
        }

        await sent.ConfigureAwait(false);
    }
}
