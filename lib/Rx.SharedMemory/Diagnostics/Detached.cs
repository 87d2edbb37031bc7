namespace Rx.SharedMemory.Diagnostics;

/// <summary>
/// Starts the library's own background work without the <see cref="ExecutionContext"/> of the call that happened to
/// start it: a delivery loop, a connection's reader or a watch started from a caller's activity would otherwise run
/// in it (<see cref="System.Diagnostics.Activity.Current"/> flows with the context), and everything they do later,
/// for every caller, would join that caller's trace.
/// </summary>
internal static class Detached
{
    /// <summary>Runs <paramref name="work"/> on the thread pool in a clean execution context.</summary>
    /// <param name="work">The work.</param>
    /// <returns>Its task.</returns>
    public static Task RunAsync(Func<Task> work)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            return Task.Run(work);
        }

        using (ExecutionContext.SuppressFlow())
        {
            return Task.Run(work);
        }
    }

    /// <summary>Runs <paramref name="work"/> on the thread pool in a clean execution context.</summary>
    /// <param name="work">The work.</param>
    /// <returns>Its task.</returns>
    public static Task RunAsync(Action work)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            return Task.Run(work);
        }

        using (ExecutionContext.SuppressFlow())
        {
            return Task.Run(work);
        }
    }

    /// <summary>
    /// Observes the failure of a task its caller gave up on (canceled its wait): it is nobody's, and must not surface
    /// as <see cref="TaskScheduler.UnobservedTaskException"/>.
    /// </summary>
    /// <param name="task">The task.</param>
    public static void ObserveFailure(Task task) =>
        _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>Calls <paramref name="start"/> with the flow of the execution context suppressed, so that what it starts (a task, a thread) does not capture it.</summary>
    /// <param name="start">What starts the work.</param>
    public static void Start(Action start)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            start();
            return;
        }

        using (ExecutionContext.SuppressFlow())
        {
            start();
        }
    }
}
