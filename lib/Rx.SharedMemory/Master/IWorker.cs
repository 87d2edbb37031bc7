using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Serialization.Metadata;

namespace Rx.SharedMemory;

/// <summary>A worker process spawned by a <see cref="SharedMemoryMaster"/>.</summary>
public interface IWorker
{
    /// <summary>Gets the worker's id, unique within its master, counting from 1 in spawn order.</summary>
    int Id { get; }

    /// <summary>Gets the worker's process id, known from the start and kept after the process exits.</summary>
    int ProcessId { get; }

    /// <summary>
    /// Gets the worker's process. It stays usable after the worker exits (for its exit code, or output the caller
    /// redirected) for as long as you hold this <see cref="IWorker"/>: the master keeps no reference to a worker once
    /// it has reported its exit, and disposes only the processes of the workers it stops when it is disposed.
    /// </summary>
    Process Process { get; }

    /// <summary>
    /// Gets a task that completes with the process's exit code once the worker has exited and the master has
    /// released everything it held (its subscriptions).
    /// </summary>
    Task<int> Exited { get; }

    /// <summary>
    /// Sends the worker a message, like Node.js's <c>worker.send</c>: its observers of
    /// <see cref="SharedMemoryWorker.Messages"/> receive it, serialized as the master's store serializes values
    /// (System.Text.Json's defaults), in the order the master sent its messages to this worker, and after every change
    /// to its subscriptions that was committed before this call.
    /// </summary>
    /// <remarks>
    /// The message is queued on the worker's connection with its changes, and written in turn. The task completes once
    /// it is queued, not when the worker has read it. While the messages waiting for this worker fill its queue
    /// (<see cref="SharedMemoryOptions.SubscriberQueueCapacity"/> messages or
    /// <see cref="SharedMemoryOptions.SubscriberQueueMaxBytes"/> bytes, at least one message), because the worker does
    /// not read its pipe or its observers are behind, the task waits for room: nothing is dropped, and the master's
    /// memory stays bounded. A worker that does not know messages (an earlier version, or a worker in another language
    /// that ignores them) drops it.
    /// </remarks>
    /// <typeparam name="T">The message's type.</typeparam>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Withdraws the message while it still waits for room, for the messages sent before
    /// it, or for the changes committed before it (a store kept in Redis); one already canceled sends nothing.</param>
    /// <returns>A task that completes when the message is queued for the worker.</returns>
    /// <exception cref="SharedMemoryLimitExceededException">The message's JSON is over
    /// <see cref="SharedMemoryOptions.MaxValueBytes"/> or nested deeper than <see cref="SharedMemoryOptions.MaxValueDepth"/>.</exception>
    /// <exception cref="NotSupportedException">The message cannot be serialized.</exception>
    /// <exception cref="ObjectDisposedException">The worker's connection is closed (it exited) or the master is disposed.</exception>
    /// <exception cref="SharedMemoryUnavailableException">The store is kept in Redis, which the master could not reach to
    /// learn the changes committed before the message (nothing was sent).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the message was queued.</exception>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    ValueTask SendAsync<T>(T message, CancellationToken cancellationToken = default);

    /// <summary>
    /// Sends the worker a message serialized with <paramref name="jsonTypeInfo"/>, such as a source-generated
    /// <see cref="System.Text.Json.Serialization.JsonSerializerContext"/>'s property, in place of the master's store
    /// options: safe under trimming and Native AOT. Otherwise as <see cref="SendAsync{T}(T, CancellationToken)"/>.
    /// </summary>
    /// <typeparam name="T">The message's type.</typeparam>
    /// <param name="message">The message.</param>
    /// <param name="jsonTypeInfo">How to write it.</param>
    /// <param name="cancellationToken">Withdraws the message while it still waits for room, for the messages sent before
    /// it, or for the changes committed before it (a store kept in Redis); one already canceled sends nothing.</param>
    /// <returns>A task that completes when the message is queued for the worker.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="jsonTypeInfo"/> is null.</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The message's JSON is over
    /// <see cref="SharedMemoryOptions.MaxValueBytes"/> or nested deeper than <see cref="SharedMemoryOptions.MaxValueDepth"/>.</exception>
    /// <exception cref="NotSupportedException">The message cannot be serialized.</exception>
    /// <exception cref="ObjectDisposedException">The worker's connection is closed (it exited) or the master is disposed.</exception>
    /// <exception cref="SharedMemoryUnavailableException">The store is kept in Redis, which the master could not reach to
    /// learn the changes committed before the message (nothing was sent).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled before the message was queued.</exception>
    ValueTask SendAsync<T>(T message, JsonTypeInfo<T> jsonTypeInfo, CancellationToken cancellationToken = default);

    /// <summary>Kills the worker's process at once; <see cref="Exited"/> completes when the master has seen it go.</summary>
    void Kill();
}
