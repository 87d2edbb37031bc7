using StackExchange.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>What StackExchange.Redis throws when Redis cannot be reached, for a test that makes a call fail so.</summary>
internal static class RedisFailure
{
    public static RedisConnectionException ConnectionLost(string message) =>
        new(ConnectionFailureType.SocketFailure, CommandFlags.None, message, null, CommandStatus.Unknown);
}
