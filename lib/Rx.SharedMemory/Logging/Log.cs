using Microsoft.Extensions.Logging;
using StreamJsonRpc;

namespace Rx.SharedMemory.Logging;

/// <summary>
/// Every log line of the library, source-generated (no boxing, no parsing of the template at run time), each with an
/// event id that stays the same across releases so that alerts and filters can name it: 1xx the master, 2xx the
/// worker, 3xx either end of a connection. The README lists them.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 100, EventName = "WorkerOnline", Level = LogLevel.Information, Message = "Worker {WorkerId} (pid {ProcessId}) is online.")]
    public static partial void WorkerOnline(this ILogger logger, int workerId, int processId);

    [LoggerMessage(EventId = 101, EventName = "WorkerExited", Level = LogLevel.Information, Message = "Worker {WorkerId} (pid {ProcessId}) exited with code {ExitCode}.")]
    public static partial void WorkerExited(this ILogger logger, int workerId, int processId, int exitCode);

    [LoggerMessage(EventId = 102, EventName = "WorkerKilledAtShutdown", Level = LogLevel.Warning, Message = "Worker {WorkerId} (pid {ProcessId}) did not exit within {Timeout} of the master closing; killing it.")]
    public static partial void WorkerKilledAtShutdown(this ILogger logger, int workerId, int processId, TimeSpan timeout);

    [LoggerMessage(EventId = 103, EventName = "WorkerConnectionClosed", Level = LogLevel.Warning, Message = "The connection to worker {WorkerId} (pid {ProcessId}) was closed: {Reason}: {Description}")]
    public static partial void WorkerConnectionClosed(this ILogger logger, Exception? exception, int workerId, int processId, DisconnectedReason reason, string description);

    [LoggerMessage(EventId = 104, EventName = "WorkerWatchFailed", Level = LogLevel.Error, Message = "Watching worker {WorkerId} failed.")]
    public static partial void WorkerWatchFailed(this ILogger logger, Exception exception, int workerId);

    [LoggerMessage(EventId = 105, EventName = "WorkerExitObserverFailed", Level = LogLevel.Error, Message = "An observer of the exit of worker {WorkerId} threw.")]
    public static partial void WorkerExitObserverFailed(this ILogger logger, Exception exception, int workerId);

    [LoggerMessage(EventId = 106, EventName = "WorkerChangesDropped", Level = LogLevel.Debug, Message = "Changes for worker {WorkerId} were dropped: the connection is closed.")]
    public static partial void WorkerChangesDropped(this ILogger logger, Exception exception, int workerId);

    [LoggerMessage(EventId = 107, EventName = "WorkerSubscriptionsReleased", Level = LogLevel.Debug, Message = "Released the subscriptions of worker {WorkerId}.")]
    public static partial void WorkerSubscriptionsReleased(this ILogger logger, int workerId);

    [LoggerMessage(EventId = 108, EventName = "RequestFailed", Level = LogLevel.Error, Message = "A '{Method}' request of worker {WorkerId} failed inside the master; it was answered as an internal error (-32603).")]
    public static partial void RequestFailed(this ILogger logger, Exception exception, string? method, int workerId);

    [LoggerMessage(EventId = 109, EventName = "WorkerReleaseRetrying", Message = "What worker {WorkerId} held could not be released (the store is out of reach); asking again in {Wait}.")]
    public static partial void WorkerReleaseRetrying(this ILogger logger, LogLevel level, Exception exception, int workerId, TimeSpan wait);

    [LoggerMessage(EventId = 110, EventName = "LocalObserverFailed", Level = LogLevel.Error, Message = "An observer of '{Key}' threw; its subscription is ended.")]
    public static partial void LocalObserverFailed(this ILogger logger, Exception exception, string key);

    [LoggerMessage(EventId = 111, EventName = "LocalObserverOnErrorFailed", Level = LogLevel.Error, Message = "An observer of '{Key}' threw from OnError.")]
    public static partial void LocalObserverOnErrorFailed(this ILogger logger, Exception exception, string key);

    [LoggerMessage(EventId = 112, EventName = "WorkerReleaseLeftToStore", Level = LogLevel.Warning, Message = "The master stopped before what worker {WorkerId} held could be released: a store kept elsewhere frees it when the master leaves, or when its lease runs out.")]
    public static partial void WorkerReleaseLeftToStore(this ILogger logger, int workerId);

    [LoggerMessage(EventId = 113, EventName = "WorkerStoppedReading", Level = LogLevel.Information, Message = "Worker {WorkerId} no longer reads its pipe (a write to it failed): its calls still run, and their answers and its changes are dropped.")]
    public static partial void WorkerStoppedReading(this ILogger logger, int workerId);

    [LoggerMessage(EventId = 120, EventName = "ChangeDeliveryFailed", Level = LogLevel.Debug, Message = "Delivery of {Count} changes failed.")]
    public static partial void ChangeDeliveryFailed(this ILogger logger, Exception exception, int count);

    [LoggerMessage(EventId = 130, EventName = "WorkerMessageRefused", Level = LogLevel.Warning, Message = "A message from worker {WorkerId} was refused ({Refused} of its messages so far; the 1st, 2nd, 4th, 8th… are logged): {Reason}")]
    public static partial void WorkerMessageRefused(this ILogger logger, int workerId, long refused, string reason);

    [LoggerMessage(EventId = 200, EventName = "MasterConnectionLost", Level = LogLevel.Warning, Message = "The connection to the master is lost: {Reason} {Description}")]
    public static partial void MasterConnectionLost(this ILogger logger, DisconnectedReason reason, string description);

    [LoggerMessage(EventId = 201, EventName = "ClosedWithError", Level = LogLevel.Debug, Message = "The connection ended with an error while closing.")]
    public static partial void ClosedWithError(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 202, EventName = "ObserverFailed", Level = LogLevel.Error, Message = "An observer threw; its subscription {SubscriptionId} is ended.")]
    public static partial void ObserverFailed(this ILogger logger, Exception exception, long subscriptionId);

    [LoggerMessage(EventId = 203, EventName = "ObserverEndFailed", Level = LogLevel.Error, Message = "An observer threw while its subscription ended.")]
    public static partial void ObserverEndFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 204, EventName = "ObserverOnErrorFailed", Level = LogLevel.Error, Message = "An observer of subscription {SubscriptionId} threw from OnError.")]
    public static partial void ObserverOnErrorFailed(this ILogger logger, Exception exception, long subscriptionId);

    [LoggerMessage(EventId = 205, EventName = "UnsubscribeFailed", Level = LogLevel.Debug, Message = "Unsubscribing {SubscriptionId} failed.")]
    public static partial void UnsubscribeFailed(this ILogger logger, Exception exception, long subscriptionId);

    [LoggerMessage(EventId = 300, EventName = "ConnectionEndedWithError", Level = LogLevel.Debug, Message = "The connection ended with an error.")]
    public static partial void ConnectionEndedWithError(this ILogger logger, Exception? exception);

    [LoggerMessage(EventId = 301, EventName = "MessageObserverFailed", Level = LogLevel.Error, Message = "An observer of messages threw; its subscription is ended.")]
    public static partial void MessageObserverFailed(this ILogger logger, Exception exception);
}
