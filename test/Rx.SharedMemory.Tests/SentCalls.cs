using Rx.SharedMemory.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Records the functions a Redis engine calls from now on (a batch once, as <see cref="RedisScripts.Batch"/>), and its
/// gets read with plain commands (<see cref="RedisEngine.ReadCommands"/>).
/// </summary>
internal sealed class SentCalls
{
    // The engine's own loops call these whenever they are due: lease, reaping, expiry, size, and the change log's reader.
    private static readonly string[] Loops = [RedisScripts.Renew, RedisScripts.Reap, RedisScripts.ExpireDue, RedisScripts.Size, RedisScripts.ReadLog];

    private readonly List<string> sent = [];

    private SentCalls()
    {
    }

    /// <summary>Gets the calls recorded, but those of the engine's own loops, in the order they were sent.</summary>
    public string[] Made
    {
        get
        {
            lock (this.sent)
            {
                return [.. this.sent.Where(function => !Loops.Contains(function))];
            }
        }
    }

    public static SentCalls Record(RedisEngine engine)
    {
        var calls = new SentCalls();
        engine.Sending = function =>
        {
            lock (calls.sent)
            {
                calls.sent.Add(function);
            }
        };
        return calls;
    }

    /// <summary>How many calls of <paramref name="function"/> were sent.</summary>
    public int Of(string function)
    {
        lock (this.sent)
        {
            return this.sent.Count(f => f == function);
        }
    }
}
