using Microsoft.Extensions.Logging;

namespace Rx.SharedMemory.Redis.Logging;

/// <summary>
/// The Redis engine's log lines, source-generated, with event ids in the library's one space of ids: 5xx. The README
/// lists them.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 500, EventName = "ChangeLogReadFailed", Level = LogLevel.Warning, Message = "Reading the change log from version {Version} failed; reading again.")]
    public static partial void ChangeLogReadFailed(this ILogger logger, Exception exception, long version);

    [LoggerMessage(EventId = 501, EventName = "HandOutFailed", Level = LogLevel.Error, Message = "Handing out the changes after version {Version} failed.")]
    public static partial void HandOutFailed(this ILogger logger, Exception exception, long version);

    [LoggerMessage(EventId = 502, EventName = "ChangeLogTrimmedPastReader", Level = LogLevel.Warning, Message = "The change log was trimmed past version {Version}, which this master had not read: its subscriptions get their state again.")]
    public static partial void ChangeLogTrimmedPastReader(this ILogger logger, long version);

    [LoggerMessage(EventId = 503, EventName = "StoreVersionWentBack", Level = LogLevel.Warning, Message = "The store's version went back from {Position} to {Version} (a failover that lost writes, or the store emptied): this master reads on from there, and its subscriptions get their state again.")]
    public static partial void StoreVersionWentBack(this ILogger logger, long position, long version);

    [LoggerMessage(EventId = 504, EventName = "ResyncFailed", Level = LogLevel.Warning, Message = "The state of subscription {Subscription} to '{Key}' could not be read again; trying again.")]
    public static partial void ResyncFailed(this ILogger logger, Exception exception, long subscription, string key);

    [LoggerMessage(EventId = 505, EventName = "LoopEndedWithError", Level = LogLevel.Warning, Message = "A loop of the Redis store '{Store}' ended with an error.")]
    public static partial void LoopEndedWithError(this ILogger logger, Exception exception, string store);

    [LoggerMessage(EventId = 506, EventName = "LeaveFailed", Level = LogLevel.Warning, Message = "Leaving the Redis store '{Store}' did not end cleanly; its lease runs out instead.")]
    public static partial void LeaveFailed(this ILogger logger, Exception exception, string store);

    [LoggerMessage(EventId = 507, EventName = "ExpiryPassFailed", Level = LogLevel.Warning, Message = "The expiry pass on the Redis store '{Store}' failed; it runs again shortly.")]
    public static partial void ExpiryPassFailed(this ILogger logger, Exception exception, string store);

    [LoggerMessage(EventId = 508, EventName = "OwnLeaseRanOut", Level = LogLevel.Error, Message = "The lease of this master ({Master}) on the Redis store '{Store}' ran out before it was renewed: its locks and ephemeral keys, and its workers', were released by the other masters.")]
    public static partial void OwnLeaseRanOut(this ILogger logger, string master, string store);

    [LoggerMessage(EventId = 509, EventName = "MasterReaped", Level = LogLevel.Warning, Message = "The lease of master {Master} on the Redis store '{Store}' ran out: its locks and its workers' ephemeral keys were released.")]
    public static partial void MasterReaped(this ILogger logger, string? master, string store);

    [LoggerMessage(EventId = 510, EventName = "LeaseRenewalFailed", Level = LogLevel.Warning, Message = "Renewing the lease of master {Master} on the Redis store '{Store}' failed; it is tried again.")]
    public static partial void LeaseRenewalFailed(this ILogger logger, Exception exception, string master, string store);

    [LoggerMessage(EventId = 511, EventName = "StoreLostAwaitedVersions", Level = LogLevel.Warning, Message = "The store's version is {Version}, below version {Lost} that writes or messages of this master waited for its reader to reach (a failover that lost writes): they wait no longer.")]
    public static partial void StoreLostAwaitedVersions(this ILogger logger, long version, long lost);

    [LoggerMessage(EventId = 512, EventName = "StoreReplacedHandedOutChange", Level = LogLevel.Warning, Message = "The store's change at version {Version} is not the one this master handed out: the store went back and was written again past it (a failover that lost writes, or the store emptied), and its subscriptions get their state again.")]
    public static partial void StoreReplacedHandedOutChange(this ILogger logger, long version);
}
