using System.Text.Json;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Transport;

namespace Rx.SharedMemory.Worker;

/// <summary>
/// One data operation waiting to travel in a <c>batch</c> request: its method and positional arguments, already
/// serialized where they carry a value (so that the batcher knows its size before it sends), and the caller's task.
/// </summary>
internal abstract class BatchedCall : IThreadPoolWorkItem, BatchRequest.IBatchCall
{
    protected BatchedCall(string method, object?[] arguments, int bytes, int regionAt)
    {
        this.Method = method;
        this.Arguments = arguments;
        this.Bytes = bytes;
        this.RegionAt = regionAt;

        // The caller's, taken where the call is made: the batch goes later, from another context.
        this.TraceParent = Protocol.TraceParent.Current();
    }

    public string Method { get; }

    /// <inheritdoc/>
    public string? TraceParent { get; }

    /// <summary>Gets the positional arguments: strings, numbers, booleans, nulls and <see cref="PooledJson"/> values.</summary>
    public object?[] Arguments { get; }

    /// <summary>Gets or sets the call's number in the order its worker's calls were made, from 1 (set by the batcher).</summary>
    public long Sequence { get; set; }

    /// <summary>Gets an upper bound of the operation's size in the batch's JSON, used to keep a batch under the master's frame limit.</summary>
    public int Bytes { get; }

    /// <summary>Gets the <see cref="BatchPositions"/> of the <c>regionOffset, regionLength</c> arguments, for a call whose value may travel in the shared region; 0 for others.</summary>
    public int RegionAt { get; }

    /// <summary>Gets a value indicating whether the caller's task is over (completed, failed or canceled).</summary>
    public abstract bool IsOver { get; }

    /// <summary>Gets or sets the operation's outcome from the batch result, kept until <see cref="Complete"/> reads it.</summary>
    public JsonElement Outcome { get; set; }

    /// <summary>Gets or sets how <see cref="Complete"/> deserializes the result.</summary>
    public JsonSerializerOptions? Options { get; set; }

    /// <summary>Reads <see cref="Outcome"/> into the caller's result or exception.</summary>
    public abstract void Complete();

    /// <summary>Completes the call on a thread-pool work item (<see cref="ThreadPool.UnsafeQueueUserWorkItem(IThreadPoolWorkItem, bool)"/>).</summary>
    void IThreadPoolWorkItem.Execute() => this.Complete();

    public abstract void Fail(Exception error);

    /// <summary>Fails the call from a thread-pool work item of its own.</summary>
    public abstract void FailLater(Exception error);

    /// <summary>Gives a value's pooled buffers back, once its message is written or it will not be.</summary>
    public void ReleaseArguments() => PooledJson.ReleaseAll(this.Arguments);

    /// <summary>Reads a result whose value waits in the shared region (<c>{"version", "region": [offset, length]}</c>), before the region is given back.</summary>
    public abstract void ResolveFromRegion(SharedRegion region, long version, long offset, long length);
}

/// <summary>A <see cref="BatchedCall"/> whose result is a <typeparamref name="T"/>.</summary>
internal sealed class BatchedCall<T> : BatchedCall
{
    // Continuations run where the call completes: on a thread-pool thread of the batcher, after it has sent what
    // waits, never on the pipe's reader thread, so an awaiting caller goes on without one more hop.
    private readonly TaskCompletionSource<T> completion = new();
    private readonly Func<JsonElement, JsonSerializerOptions, T> readResult;
    private readonly RegionResultReader? readRegionResult;
    private CancellationTokenRegistration cancellation;
    private (T Value, Exception? Error)? resolved;

    /// <param name="method">The method's name.</param>
    /// <param name="arguments">The positional arguments.</param>
    /// <param name="bytes">An upper bound of the call's size in the batch's JSON.</param>
    /// <param name="readResult">Reads the call's <c>result</c>.</param>
    /// <param name="cancellationToken">Cancels the caller's wait.</param>
    /// <param name="regionAt">The <see cref="BatchPositions"/> of the region arguments, for a call whose value may travel in the shared region; 0 otherwise.</param>
    /// <param name="readRegionResult">Reads a result whose value waits in the shared region, for a call that may get one.</param>
    public BatchedCall(string method, object?[] arguments, int bytes, Func<JsonElement, JsonSerializerOptions, T> readResult, CancellationToken cancellationToken, int regionAt = 0, RegionResultReader? readRegionResult = null)
        : base(method, arguments, bytes, regionAt)
    {
        this.readResult = readResult;
        this.readRegionResult = readRegionResult;
        if (cancellationToken.CanBeCanceled)
        {
            // A canceled call still travels if its batch has gone: the master may have applied it, as with any
            // request canceled in flight. Its result is then ignored.
            this.cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((BatchedCall<T>)state!).completion.TrySetCanceled(token), this);
        }
    }

    /// <summary>Deserializes a value read from the shared region into the call's result, with the entry's version.</summary>
    public delegate T RegionResultReader(ReadOnlySpan<byte> value, long version, JsonSerializerOptions options);

    public Task<T> Task => this.completion.Task;

    public override void ResolveFromRegion(SharedRegion region, long version, long offset, long length)
    {
        try
        {
            if (this.readRegionResult is null)
            {
                throw new SharedMemoryException($"The master put the result of a '{this.Method}' call in the shared region, which only a get's may be.");
            }

            var options = this.Options ?? ProtocolJsonContext.Default.Options;
            this.resolved = (region.Read(SharedRegion.Area.ToWorker, offset, length, bytes => this.readRegionResult(bytes, version, options)), null);
        }
        catch (Exception ex)
        {
            // Whatever the value's type or converter throws is the caller's error, not the batcher's.
            this.resolved = (default!, ex);
        }
    }

    public override bool IsOver => this.completion.Task.IsCompleted;

    public override void Complete()
    {
        // Unregister, not Dispose: a cancellation callback running now must not hold this thread.
        this.cancellation.Unregister();
        if (this.IsOver)
        {
            return;
        }

        if (this.resolved is { } early)
        {
            if (early.Error is null)
            {
                this.completion.TrySetResult(early.Value);
            }
            else
            {
                this.completion.TrySetException(early.Error);
            }

            return;
        }

        try
        {
            var outcome = this.Outcome;
            var options = this.Options ?? ProtocolJsonContext.Default.Options;
            if (!BatchAnswer.TryReadOutcome(outcome, options, out var result, out var error))
            {
                this.completion.TrySetException(new SharedMemoryException($"The master's batch result for a '{this.Method}' call is malformed: {outcome.GetRawText()}"));
            }
            else if (error is not null)
            {
                this.completion.TrySetException(error);
            }
            else
            {
                this.completion.TrySetResult(this.readResult(result, options));
            }
        }
        catch (Exception ex)
        {
            // Whatever the value's type or converter throws is the caller's error, not the batcher's.
            this.completion.TrySetException(ex);
        }
    }

    public override void Fail(Exception error)
    {
        this.cancellation.Unregister();
        this.completion.TrySetException(error);
    }

    public override void FailLater(Exception error)
    {
        this.resolved = (default!, error);
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }
}
