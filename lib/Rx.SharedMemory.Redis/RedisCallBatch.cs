using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Redis.Logging;
using StackExchange.Redis;

namespace Rx.SharedMemory.Redis;

/// <summary>
/// The calls a master starts for one of a worker's batches, sent to Redis as one call of the library's batch function
/// (<see cref="RedisScripts.Batch"/>) once it has started them all: one command for Redis to read and answer, one
/// wake-up of the masters' readers, and the batch's changes handed out at once, where each call alone cost all three.
/// Its gets read at most a budget of value bytes (and one value): the calls after that are not run, and fail with
/// <see cref="CallNotRunException"/>, a tail for the worker to send again.
/// </summary>
/// <remarks>
/// Open from <see cref="RedisEngine.BeginBatch"/> until it is disposed, in the flow that opened it (an
/// <see cref="AsyncLocal{T}"/>): a call of the same engine that this flow starts meanwhile joins it; any other call,
/// or one started after, is sent alone. The calls run in Redis in the order they joined, as they would have alone.
/// </remarks>
internal sealed class RedisCallBatch : IDisposable
{
    // A box, emptied when the batch closes: the flows that captured it meanwhile (continuations, work they started)
    // then hold nothing of the batch's calls.
    private static readonly AsyncLocal<StrongBox<RedisCallBatch?>?> Open = new();

    private readonly RedisEngine engine;
    private readonly long getBytesBudget;
    private readonly List<(string Function, RedisValue[] Arguments, TaskCompletionSource<RedisResult> Result)> calls = [];
    private bool closed;

    private RedisCallBatch(RedisEngine engine, long getBytesBudget)
    {
        this.engine = engine;
        this.getBytesBudget = getBytesBudget;
    }

    /// <summary>Opens a batch for <paramref name="engine"/> in this flow; null when one is open already (it goes on).</summary>
    /// <param name="engine">The engine.</param>
    /// <param name="getBytesBudget">The value bytes the batch's gets may read before it runs no further call; -1 for no bound.</param>
    public static RedisCallBatch? Begin(RedisEngine engine, long getBytesBudget)
    {
        if (Open.Value?.Value is { closed: false })
        {
            return null;
        }

        var batch = new RedisCallBatch(engine, getBytesBudget);
        Open.Value = new StrongBox<RedisCallBatch?>(batch);
        return batch;
    }

    /// <summary>Whether a batch is open in this flow for <paramref name="engine"/>: a call started now would join it.</summary>
    public static bool IsOpen(RedisEngine engine) => Open.Value?.Value is { closed: false } batch && batch.engine == engine;

    /// <summary>Adds a call to the batch open in this flow for <paramref name="engine"/>; null when there is none.</summary>
    /// <returns>Its result, once the batch has run; a call that failed in Redis faults with <see cref="RedisServerException"/>.</returns>
    public static Task<RedisResult>? JoinAsync(RedisEngine engine, string function, RedisValue[] arguments)
    {
        if (Open.Value?.Value is not { } batch || batch.engine != engine)
        {
            return null;
        }

        // Its continuations run in order as the batch completes them: a write's change is handed out by then.
        var result = new TaskCompletionSource<RedisResult>();
        lock (batch.calls)
        {
            // The flow may have gone on to another thread (a call that waited before it called the engine).
            if (batch.closed)
            {
                return null;
            }

            batch.calls.Add((function, arguments, result));
        }

        return result.Task;
    }

    /// <summary>Closes the batch and sends it: one call alone, as it would have gone without a batch; more as one.</summary>
    public void Dispose()
    {
        lock (this.calls)
        {
            if (this.closed)
            {
                return;
            }

            this.closed = true;
        }

        if (Open.Value is { } box && box.Value == this)
        {
            box.Value = null;
            Open.Value = null;
        }

        switch (this.calls.Count)
        {
            case 0:
                return;
            case 1:
                _ = this.SendAloneAsync();
                return;
            default:
                _ = this.SendAsync();
                return;
        }
    }

    /// <summary>
    /// The failure of the command, as one of its calls sees it: an exception of its own, of the same kind. The calls'
    /// awaits rethrow it one after another, and each rethrow of one shared exception would add its stack to it: for
    /// a thousand calls, a thousand stacks a thousand times (a batch of 262,200 gets grew its master by 3 GB in 5 s).
    /// </summary>
    private static Exception OneCallsFailure(Exception failure) => failure switch
    {
        RedisServerException server => new RedisServerException(server.Kind, CommandFlags.None, failure.Message),
        RedisTimeoutException timeout => new RedisTimeoutException(CommandFlags.None, failure.Message, timeout.Commandstatus),
        RedisConnectionException connection => new RedisConnectionException(connection.FailureType, CommandFlags.None, failure.Message, failure, connection.CommandStatus),
        RedisException => new RedisException(failure.Message, failure),
        TimeoutException => new TimeoutException(failure.Message, failure),
        _ => new InvalidOperationException(failure.Message, failure),
    };

    private async Task SendAloneAsync()
    {
        var (function, arguments, result) = this.calls[0];
        try
        {
            result.SetResult(await this.engine.CallAsync(function, arguments).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            result.SetException(ex);
        }
    }

    private async Task SendAsync()
    {
        RedisResult entries;
        RedisResult[] results;
        string?[]? failures = null;
        try
        {
            // Position, count, budget, then each call as its short name, its number of arguments and its arguments.
            var arguments = new List<RedisValue>(3 + this.calls.Sum(c => 2 + c.Arguments.Length)) { this.engine.Feed.Position, this.calls.Count, this.getBytesBudget };
            foreach (var (function, callArguments, _) in this.calls)
            {
                arguments.Add(RedisScripts.ShortName(function));
                arguments.Add(callArguments.Length);
                arguments.AddRange(callArguments);
            }

            var answer = (RedisResult[])(await this.engine.CallAsync(RedisScripts.Batch, [.. arguments]).ConfigureAwait(false))!;
            entries = answer[1];
            results = (RedisResult[])answer[0]!;
            if (results.Length != (int)answer[3] || results.Length > this.calls.Count)
            {
                throw new RedisException($"The batch function answered {results.Length} results for {this.calls.Count} calls, of which it ran {(int)answer[3]}.");
            }

            var failed = (RedisResult[])answer[2]!;
            for (int i = 0; i + 1 < failed.Length; i += 2)
            {
                (failures ??= new string?[results.Length])[(int)failed[i] - 1] = (string?)failed[i + 1] ?? "The call failed in Redis.";
            }
        }
        catch (Exception ex)
        {
            foreach (var (_, _, result) in this.calls)
            {
                result.SetException(OneCallsFailure(ex));
            }

            return;
        }

        try
        {
            this.engine.Feed.HandOutFromWrite(entries);
        }
        catch (Exception ex)
        {
            // The writes stand: the reader hands their changes out instead.
            this.engine.Logger.HandOutFailed(ex, this.engine.Feed.Position);
        }

        for (int i = 0; i < this.calls.Count; i++)
        {
            if (i >= results.Length)
            {
                this.calls[i].Result.SetException(new CallNotRunException());
            }
            else if (failures?[i] is { } message)
            {
                this.calls[i].Result.SetException(new RedisServerException(RedisErrorKind.UnknownError, CommandFlags.None, message));
            }
            else
            {
                this.calls[i].Result.SetResult(results[i]);
            }
        }
    }
}
