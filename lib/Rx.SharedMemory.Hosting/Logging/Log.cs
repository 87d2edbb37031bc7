using Microsoft.Extensions.Logging;

namespace Rx.SharedMemory.Hosting.Logging;

/// <summary>Every log line of the hosting integration, source-generated, with event ids 4xx (the core's are 1xx-3xx).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 400, EventName = "WorkerRestartScheduled", Level = LogLevel.Warning, Message = "Worker {Group}[{Index}] (pid {ProcessId}) exited with code {ExitCode}; it restarts in {Delay} (exit {ExitsInARow} in a row).")]
    public static partial void WorkerRestartScheduled(this ILogger logger, string group, int index, int processId, int exitCode, TimeSpan delay, int exitsInARow);

    [LoggerMessage(EventId = 401, EventName = "WorkerNotRestarted", Level = LogLevel.Warning, Message = "Worker {Group}[{Index}] (pid {ProcessId}) exited with code {ExitCode}; restart mode {Mode} leaves it stopped.")]
    public static partial void WorkerNotRestarted(this ILogger logger, string group, int index, int processId, int exitCode, WorkerRestartMode mode);

    [LoggerMessage(EventId = 402, EventName = "WorkerRestartFailed", Level = LogLevel.Error, Message = "Worker {Group}[{Index}] did not start again; the next try is in {Delay}.")]
    public static partial void WorkerRestartFailed(this ILogger logger, Exception exception, string group, int index, TimeSpan delay);

    [LoggerMessage(EventId = 403, EventName = "WorkerRestarted", Level = LogLevel.Information, Message = "Worker {Group}[{Index}] runs again as worker {WorkerId} (pid {ProcessId}).")]
    public static partial void WorkerRestarted(this ILogger logger, string group, int index, int workerId, int processId);

    [LoggerMessage(EventId = 404, EventName = "SupervisionFailed", Level = LogLevel.Error, Message = "Supervising worker {Group}[{Index}] failed: it is no longer restarted, and the master's health check says so.")]
    public static partial void SupervisionFailed(this ILogger logger, Exception exception, string group, int index);

    [LoggerMessage(EventId = 405, EventName = "SupervisorStopFailed", Level = LogLevel.Error, Message = "Stopping the worker supervisor met an error; the master and its workers are stopped all the same.")]
    public static partial void SupervisorStopFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 410, EventName = "MasterLostStoppingApplication", Level = LogLevel.Warning, Message = "The connection to the master is lost; the application stops.")]
    public static partial void MasterLostStoppingApplication(this ILogger logger);
}
