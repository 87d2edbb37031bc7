namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>How one call ended: succeeded (no exception), or the exception it failed with and what that exception says.</summary>
/// <param name="Exception">The exception's type name; null when the call succeeded.</param>
/// <param name="Message">The exception's message.</param>
/// <param name="ParamName">The parameter an <see cref="ArgumentException"/> names.</param>
/// <param name="LimitName">The limit a <see cref="SharedMemoryLimitExceededException"/> names.</param>
/// <param name="Limit">That limit's value.</param>
/// <param name="Actual">What broke it.</param>
/// <param name="LimitKey">The key or name it names.</param>
/// <param name="Inner">The inner exception's full type name, if any.</param>
/// <param name="ThrownAtCallSite">Whether the call threw before it returned its task, instead of failing through it.</param>
internal sealed record Outcome(
    string? Exception = null,
    string? Message = null,
    string? ParamName = null,
    string? LimitName = null,
    long? Limit = null,
    long? Actual = null,
    string? LimitKey = null,
    string? Inner = null,
    bool ThrownAtCallSite = false)
{
    /// <summary>The outcome of a call that succeeded.</summary>
    public static readonly Outcome Succeeded = new();

    /// <summary>The outcome of a call that failed with <paramref name="exception"/>.</summary>
    public static Outcome Of(Exception exception, bool thrownAtCallSite = false) => new(
        exception.GetType().Name,
        exception.Message,
        (exception as ArgumentException)?.ParamName,
        (exception as SharedMemoryLimitExceededException)?.LimitName,
        (exception as SharedMemoryLimitExceededException)?.Limit,
        (exception as SharedMemoryLimitExceededException)?.Actual,
        (exception as SharedMemoryLimitExceededException)?.Key,
        exception.InnerException?.GetType().FullName,
        thrownAtCallSite);

    /// <summary>
    /// Makes a call and awaits what it returned, telling a throw at the call site from a failure through the task.
    /// <paramref name="call"/> must be the call itself (<c>() =&gt; store.SetAsync(...)</c>), not an <c>async</c>
    /// lambda around it, which would turn a throw at the call site into a failed task.
    /// </summary>
    public static async Task<Outcome> OfAsync<T>(Func<ValueTask<T>> call)
    {
        ValueTask<T> pending;
        try
        {
            pending = call();
        }
        catch (Exception ex)
        {
            return Of(ex, thrownAtCallSite: true);
        }

        try
        {
            await pending;
            return Succeeded;
        }
        catch (Exception ex)
        {
            return Of(ex);
        }
    }

    /// <summary>As <see cref="OfAsync{T}"/>, for a call whose task has no result.</summary>
    public static Task<Outcome> OfAsync(Func<ValueTask> call) =>
        OfAsync(() => CompletedAsync(call())); // not async: a throw at the call site stays one

    private static async ValueTask<bool> CompletedAsync(ValueTask pending)
    {
        await pending;
        return true;
    }
}
