using System.Text.Json;
using Rx.SharedMemory.Rpc;

namespace Rx.SharedMemory.Worker;

/// <summary>
/// One data operation waiting to travel in a <c>batch</c> request: its method and positional arguments, already
/// serialized where they carry a value (so that the batcher knows its size before it sends), and the caller's task.
/// </summary>
internal abstract class BatchedCall : IThreadPoolWorkItem
{
    protected BatchedCall(string method, object?[] arguments, int bytes)
    {
        this.Method = method;
        this.Arguments = arguments;
        this.Bytes = bytes;
    }

    public string Method { get; }

    /// <summary>Gets the positional arguments: strings, numbers, booleans, nulls and <see cref="RawJson"/> values.</summary>
    public object?[] Arguments { get; }

    /// <summary>Gets an upper bound of the operation's size in the batch's JSON, used to keep a batch under the master's frame limit.</summary>
    public int Bytes { get; }

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

    /// <summary>Writes <c>[method, arguments…]</c>.</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        writer.WriteStartArray();
        writer.WriteStringValue(this.Method);
        foreach (var argument in this.Arguments)
        {
            switch (argument)
            {
                case null: writer.WriteNullValue(); break;
                case string text: writer.WriteStringValue(text); break;
                case long number: writer.WriteNumberValue(number); break;
                case double number: writer.WriteNumberValue(number); break;
                case bool flag: writer.WriteBooleanValue(flag); break;
                case RawJson json: writer.WriteRawValue(json.Utf8, skipInputValidation: true); break;
                default: throw new InvalidOperationException($"A batched argument cannot be a {argument.GetType()}.");
            }
        }

        writer.WriteEndArray();
    }
}

/// <summary>A <see cref="BatchedCall"/> whose result is a <typeparamref name="T"/>.</summary>
internal sealed class BatchedCall<T> : BatchedCall
{
    // Continuations run where the call completes: on a thread-pool work item of the batcher, never on the pipe's
    // reader thread, so an awaiting caller goes on without one more hop.
    private readonly TaskCompletionSource<T> completion = new();
    private readonly Func<JsonElement, JsonSerializerOptions, T> readResult;
    private CancellationTokenRegistration cancellation;

    public BatchedCall(string method, object?[] arguments, int bytes, Func<JsonElement, JsonSerializerOptions, T> readResult, CancellationToken cancellationToken)
        : base(method, arguments, bytes)
    {
        this.readResult = readResult;
        if (cancellationToken.CanBeCanceled)
        {
            // A canceled call still travels if its batch has gone: the master may have applied it, as with any
            // request canceled in flight. Its result is then ignored.
            this.cancellation = cancellationToken.UnsafeRegister(static (state, token) => ((BatchedCall<T>)state!).completion.TrySetCanceled(token), this);
        }
    }

    public Task<T> Task => this.completion.Task;

    public override bool IsOver => this.completion.Task.IsCompleted;

    public override void Complete()
    {
        this.cancellation.Dispose();
        if (this.IsOver)
        {
            return;
        }

        try
        {
            var outcome = this.Outcome;
            var options = this.Options ?? JsonSerializerOptions.Default;
            if (outcome.ValueKind == JsonValueKind.Object && outcome.TryGetProperty("error"u8, out var error))
            {
                this.completion.TrySetException(RpcErrors.ToException(error, options));
            }
            else if (outcome.ValueKind == JsonValueKind.Object && outcome.TryGetProperty("result"u8, out var result))
            {
                this.completion.TrySetResult(this.readResult(result, options));
            }
            else
            {
                this.completion.TrySetException(new SharedMemoryException($"The master's batch result for a '{this.Method}' call is malformed: {outcome.GetRawText()}"));
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or NotSupportedException)
        {
            this.completion.TrySetException(ex);
        }
    }

    public override void Fail(Exception error)
    {
        this.cancellation.Dispose();
        this.completion.TrySetException(error);
    }
}
