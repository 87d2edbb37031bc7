using System.Text.Json;

namespace Rx.SharedMemory.Rpc;

/// <summary>Errors that name the key whose value could not be written or read, and failures reported through a task.</summary>
internal static class ValueErrors
{
    /// <summary>
    /// Whether <paramref name="exception"/> is one System.Text.Json throws for a value or type it cannot handle (an
    /// <see cref="ArgumentException"/> for a number JSON cannot hold, such as <see cref="double.NaN"/>).
    /// </summary>
    public static bool IsSerializerError(Exception exception) => exception is JsonException or NotSupportedException or InvalidOperationException or ArgumentException;

    /// <summary>The same kind of error as <paramref name="cause"/>, saying which key's value could not be serialized.</summary>
    public static Exception Unwritable(string key, Type type, Exception cause) =>
        Rewrap(cause, $"{SharedMemoryLimitExceededException.DescribeKey(key)}: a value of type {type} cannot be serialized: {cause.Message}");

    /// <summary>The same kind of error as <paramref name="cause"/>, saying which key's value could not be read as <paramref name="type"/>.</summary>
    public static Exception Unreadable(string key, Type type, Exception cause) =>
        Rewrap(cause, $"{SharedMemoryLimitExceededException.DescribeKey(key)}: its value cannot be read as {type}: {cause.Message}");

    /// <summary>
    /// A task faulted with <paramref name="exception"/> (canceled, for the cancellation of a token): what an async
    /// method returns instead of throwing at its call site, so that calls issued together all run.
    /// </summary>
    public static ValueTask<T> FaultedAsync<T>(Exception exception) =>
        exception is OperationCanceledException { CancellationToken.IsCancellationRequested: true } canceled
            ? ValueTask.FromCanceled<T>(canceled.CancellationToken)
            : ValueTask.FromException<T>(exception);

    private static Exception Rewrap(Exception cause, string message) => cause switch
    {
        ArgumentException => new ArgumentException(message, cause),
        NotSupportedException => new NotSupportedException(message, cause),
        InvalidOperationException => new InvalidOperationException(message, cause),
        _ => new JsonException(message, cause),
    };
}
