using System.Collections.Frozen;
using System.Diagnostics;
using System.Text.Json;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Store;
using StreamJsonRpc;

namespace Rx.SharedMemory.Master;

/// <summary>
/// The master's operations, one entry each: the handler a request of its own binds to (StreamJsonRpc matches its
/// parameters by name or by position, as docs/protocol.md says), and, for the data operations, how a call of a
/// <c>batch</c> runs the same operation from its <see cref="BatchPositions"/>. Failures are exceptions, which
/// <see cref="RpcErrors.ToErrorDetail"/> alone maps to error codes, for a request and a batched call alike.
/// </summary>
/// <remarks>
/// Adding an operation: its name in <see cref="RpcMethods"/> and its positions in <see cref="BatchPositions"/> (the
/// codec), an entry here, and the store's method. Nothing else dispatches.
/// </remarks>
internal static class OperationTable
{
    /// <summary>
    /// Every method a worker may call. The lambdas' parameter names and defaults are the protocol's: a request by name
    /// matches them. Each optional argument is nullable, so that null stands for one left out, as in a batch (a
    /// JavaScript worker's <c>undefined</c> in an array is written as null). Each operation takes its request's <c>traceparent</c> first, before it can wait
    /// (<see cref="TraceContextStrategy.TakeInbound"/>).
    /// </summary>
    private static readonly Operation[] Operations =
    [
        new(RpcMethods.Hello, static t => (int protocolVersion, int processId, bool? sharedRegion = null) => t.OnHello(protocolVersion, processId, sharedRegion ?? false)),
        new(
            RpcMethods.Get,
            static t => (string key) => RequestAsync(t, RpcMethods.Get, key, static (t, key, _) => GetAsync(t.Greeted(), key), t.TraceContext.TakeInbound()),
            static (t, a, _) => AsObjectAsync(GetAsync(t, a.String(BatchPositions.Get.Key, "key"))),
            BatchPositions.Get.Length),
        new(
            RpcMethods.Set,
            static t => (string key, JsonElement value, double? ttlMs = null, bool? ephemeral = null) => RequestAsync(t, RpcMethods.Set, (key, value, ttlMs, ephemeral: ephemeral ?? false), static (t, a, trace) => SetAsync(t.Greeted(), a.key, RawJson.CopyOf(a.value), a.ttlMs, a.ephemeral, trace), t.TraceContext.TakeInbound()),
            static (t, a, trace) => AsObjectAsync(SetAsync(
                t,
                a.String(BatchPositions.Set.Key, "key"),
                t.ValueOf(a, BatchPositions.Set.Key, BatchPositions.Set.Value, BatchPositions.Set.RegionOffset),
                a.OptionalDouble(BatchPositions.Set.TtlMs, "ttlMs"),
                a.OptionalBoolean(BatchPositions.Set.Ephemeral, "ephemeral"),
                trace)),
            BatchPositions.Set.Length),
        new(
            RpcMethods.CompareAndSet,
            static t => (string key, long expectedVersion, JsonElement value, double? ttlMs = null, bool? ephemeral = null) => RequestAsync(t, RpcMethods.CompareAndSet, (key, expectedVersion, value, ttlMs, ephemeral: ephemeral ?? false), static (t, a, trace) => CompareAndSetAsync(t.Greeted(), a.key, a.expectedVersion, RawJson.CopyOf(a.value), a.ttlMs, a.ephemeral, trace), t.TraceContext.TakeInbound()),
            static (t, a, trace) => AsObjectAsync(CompareAndSetAsync(
                t,
                a.String(BatchPositions.CompareAndSet.Key, "key"),
                a.Int64(BatchPositions.CompareAndSet.ExpectedVersion, "expectedVersion"),
                t.ValueOf(a, BatchPositions.CompareAndSet.Key, BatchPositions.CompareAndSet.Value, BatchPositions.CompareAndSet.RegionOffset),
                a.OptionalDouble(BatchPositions.CompareAndSet.TtlMs, "ttlMs"),
                a.OptionalBoolean(BatchPositions.CompareAndSet.Ephemeral, "ephemeral"),
                trace)),
            BatchPositions.CompareAndSet.Length),
        new(
            RpcMethods.Increment,
            static t => (string key, long? delta = null) => RequestAsync(t, RpcMethods.Increment, (key, delta: delta ?? 1), static (t, a, trace) => IncrementAsync(t.Greeted(), a.key, a.delta, trace), t.TraceContext.TakeInbound()),
            static (t, a, trace) => AsObjectAsync(IncrementAsync(t, a.String(BatchPositions.Increment.Key, "key"), a.OptionalInt64(BatchPositions.Increment.Delta, "delta") ?? 1, trace)),
            BatchPositions.Increment.Length),
        new(
            RpcMethods.Delete,
            static t => (string key) => RequestAsync(t, RpcMethods.Delete, key, static (t, key, trace) => DeleteAsync(t.Greeted(), key, trace), t.TraceContext.TakeInbound()),
            static (t, a, trace) => AsObjectAsync(DeleteAsync(t, a.String(BatchPositions.Delete.Key, "key"), trace)),
            BatchPositions.Delete.Length),
        // A lock wait holds no read (RunAsync, not RequestAsync): an unlock behind it must get through.
        new(RpcMethods.Lock, static t => (string name, double timeoutMs, CancellationToken cancellationToken) => RunAsync(t, RpcMethods.Lock, (name, timeoutMs, cancellationToken), static (t, a, _) => new ValueTask<long>(t.LockAsync(a.name, a.timeoutMs, a.cancellationToken)), t.TraceContext.TakeInbound())),
        new(
            RpcMethods.Unlock,
            static t => (string name, long token) => RequestAsync(t, RpcMethods.Unlock, (name, token), static (t, a, _) => t.Greeted().UnlockAsync(a.name, a.token), t.TraceContext.TakeInbound()),
            static (t, a, _) => AsObjectAsync(t.UnlockAsync(a.String(BatchPositions.Unlock.Name, "name"), a.Int64(BatchPositions.Unlock.Token, "token"))),
            BatchPositions.Unlock.Length),
        new(RpcMethods.Subscribe, static t => (long subscription, string key, bool? prefix = null, long? fromVersion = null) => RequestAsync(t, RpcMethods.Subscribe, (subscription, key, prefix: prefix ?? false, fromVersion), static (t, a, _) => t.SubscribeAsync(a.subscription, a.key, a.prefix, a.fromVersion), t.TraceContext.TakeInbound())),
        new(RpcMethods.Unsubscribe, static t => (long subscription) => RequestAsync(t, RpcMethods.Unsubscribe, subscription, static (t, subscription, _) => new ValueTask<bool>(t.Unsubscribe(subscription)), t.TraceContext.TakeInbound())),
        new(RpcMethods.Batch, static t => (BatchRequest calls, JsonElement? traceparents = null) => HoldingReadsAsync(t, t.BatchAsync(calls, traceparents))),
        new(RpcMethods.Message, static t => (JsonElement message) => t.OnMessage(message)),
    ];

    private static readonly FrozenDictionary<string, Operation> Batched =
        Operations.Where(o => o.Batched is not null).ToFrozenDictionary(o => o.Name, StringComparer.Ordinal);

    private static readonly string BatchedNames = string.Join(", ", Operations.Where(o => o.Batched is not null).Select(o => o.Name));

    /// <summary>
    /// Serves every operation of the table on <paramref name="rpc"/>, for one connection: the worker can call these and
    /// nothing else. The connection's requests carry their trace context to the operations through
    /// <see cref="WorkerConnection.TraceContext"/>, installed here, where it is read.
    /// </summary>
    /// <param name="rpc">The connection, not listening yet.</param>
    /// <param name="connection">The connection.</param>
    public static void Register(JsonRpc rpc, WorkerConnection connection)
    {
        rpc.ActivityTracingStrategy = connection.TraceContext;
        foreach (var operation in Operations)
        {
            rpc.AddLocalRpcMethod(operation.Name, operation.Bind(connection));
        }
    }

    /// <summary>Runs one call of a batch; its result is what a request of its own would return.</summary>
    /// <param name="connection">The connection.</param>
    /// <param name="arguments">The call.</param>
    /// <param name="callerTraceParent">The call's entry of the batch's <c>traceparents</c>, as received; null for none.</param>
    /// <returns>The result: null, a number, a boolean or a message.</returns>
    /// <exception cref="ArgumentException">The method cannot be called in a batch, or the call has more arguments than it takes.</exception>
    public static ValueTask<object?> RunBatchedAsync(WorkerConnection connection, BatchArguments arguments, string? callerTraceParent = null)
    {
        if (!Batched.TryGetValue(arguments.Method, out var operation))
        {
            throw new ArgumentException($"'{arguments.Method}' cannot be called in a batch; only {BatchedNames} can.");
        }

        // Surplus arguments are refused, as a request's are: a ["delete", key, expectedVersion] must not delete whatever the version.
        arguments.ThrowIfLongerThan(operation.BatchedLength);
        return RunAsync(connection, operation.Name, arguments, operation.Batched!, callerTraceParent);
    }

    private static async ValueTask<EntryMessage<RawJson>?> GetAsync(WorkerConnection connection, string key) =>
        await connection.Engine.GetAsync(key, CancellationToken.None).ConfigureAwait(false) is { } stored
            ? new EntryMessage<RawJson> { Value = new RawJson(stored.Value), Version = stored.Version }
            : null;

    private static ValueTask<long> SetAsync(WorkerConnection connection, string key, byte[] value, double? ttlMs, bool ephemeral, string? traceParent)
    {
        var timeToLive = TimeToLive(ttlMs);
        return ephemeral
            ? connection.AsOwnerAsync(RpcMethods.Set, key, (key, value, timeToLive, traceParent), static (engine, s, owner) => engine.SetAsync(s.key, s.value, s.timeToLive, owner, s.traceParent, CancellationToken.None))
            : connection.PastGateAsync((key, value, timeToLive, traceParent), static (engine, s, _) => engine.SetAsync(s.key, s.value, s.timeToLive, 0, s.traceParent, CancellationToken.None));
    }

    private static async ValueTask<CompareAndSetMessage> CompareAndSetAsync(WorkerConnection connection, string key, long expectedVersion, byte[] value, double? ttlMs, bool ephemeral, string? traceParent)
    {
        var timeToLive = TimeToLive(ttlMs);
        var running = ephemeral
            ? connection.AsOwnerAsync(RpcMethods.CompareAndSet, key, (key, expectedVersion, value, timeToLive, traceParent), static (engine, s, owner) => engine.CompareAndSetAsync(s.key, s.expectedVersion, s.value, s.timeToLive, owner, s.traceParent, CancellationToken.None))
            : connection.PastGateAsync((key, expectedVersion, value, timeToLive, traceParent), static (engine, s, _) => engine.CompareAndSetAsync(s.key, s.expectedVersion, s.value, s.timeToLive, 0, s.traceParent, CancellationToken.None));
        var result = await running.ConfigureAwait(false);
        return new CompareAndSetMessage { Succeeded = result.Succeeded, Version = result.Version };
    }

    private static async ValueTask<EntryMessage<long>> IncrementAsync(WorkerConnection connection, string key, long delta, string? traceParent)
    {
        var (value, version) = await connection.PastGateAsync((key, delta, traceParent), static (engine, s, _) => engine.IncrementAsync(s.key, s.delta, s.traceParent, CancellationToken.None)).ConfigureAwait(false);
        return new EntryMessage<long> { Value = value, Version = version };
    }

    private static ValueTask<long> DeleteAsync(WorkerConnection connection, string key, string? traceParent) =>
        connection.PastGateAsync((key, traceParent), static (engine, s, _) => engine.DeleteAsync(s.key, s.traceParent, CancellationToken.None));

    /// <summary>
    /// Runs an operation a worker sent as a message of its own (a request, or a notification): <see cref="RunAsync"/>,
    /// and the worker's next message is read once it has run.
    /// </summary>
    private static ValueTask<TResult> RequestAsync<TState, TResult>(WorkerConnection connection, string operation, TState state, Func<WorkerConnection, TState, string?, ValueTask<TResult>> run, string? callerTraceParent) =>
        HoldingReadsAsync(connection, RunAsync(connection, operation, state, run, callerTraceParent));

    /// <summary>
    /// Holds the next read of the worker's pipe until <paramref name="running"/> completes. The read gate
    /// (<c>RpcChannel</c>) counts only answers already written: without this an engine that answers later would let a
    /// worker start every operation in its pipe, request or notification, before any answer was counted.
    /// </summary>
    private static ValueTask<TResult> HoldingReadsAsync<TResult>(WorkerConnection connection, ValueTask<TResult> running)
    {
        if (running.IsCompleted)
        {
            return running;
        }

        var task = running.AsTask();
        connection.HoldReadsUntil(task);
        return new ValueTask<TResult>(task);
    }

    /// <summary>
    /// Runs one operation, by request or in a batch, inside its activity (<see cref="StoreActivities.StartOperation"/>),
    /// and records its duration by its name when it ends. <paramref name="run"/> is given the <c>traceparent</c> its
    /// changes carry. The arguments are read before this returns, as a batch needs.
    /// </summary>
    private static ValueTask<TResult> RunAsync<TState, TResult>(WorkerConnection connection, string operation, TState state, Func<WorkerConnection, TState, string?, ValueTask<TResult>> run, string? callerTraceParent)
    {
        var activity = StoreActivities.StartOperation(operation, callerTraceParent, connection.Id);
        long started = Stopwatch.GetTimestamp();
        ValueTask<TResult> running;
        try
        {
            running = run(connection, state, activity.TraceParent);
        }
        catch (Exception ex)
        {
            Ended(connection, operation, started, activity, ex);
            throw;
        }
        finally
        {
            // The operation's activity ends when it does; the reader goes on in its own context.
            activity.Leave();
        }

        if (running.IsCompletedSuccessfully)
        {
            Ended(connection, operation, started, activity, null);
            return running;
        }

        return EndWhenDoneAsync(connection, operation, started, activity, running);
    }

    private static async ValueTask<TResult> EndWhenDoneAsync<TResult>(WorkerConnection connection, string operation, long started, StoreActivities.OperationActivity activity, ValueTask<TResult> running)
    {
        try
        {
            var result = await running.ConfigureAwait(false);
            Ended(connection, operation, started, activity, null);
            return result;
        }
        catch (Exception ex)
        {
            Ended(connection, operation, started, activity, ex);
            throw;
        }
    }

    private static void Ended(WorkerConnection connection, string operation, long started, StoreActivities.OperationActivity activity, Exception? failure)
    {
        connection.Metrics.RecordOperation(operation, started, failure);
        activity.End(failure);
    }

    /// <summary>A batched call's result as an object.</summary>
    private static async ValueTask<object?> AsObjectAsync<T>(ValueTask<T> running) => await running.ConfigureAwait(false);

    /// <summary>A <c>ttlMs</c> argument: positive; one past what a <see cref="TimeSpan"/> holds (about 29,000 years) means as long as the store can keep a deadline.</summary>
    private static TimeSpan? TimeToLive(double? milliseconds) => milliseconds switch
    {
        null => null,
        > 0 => ProtocolLimits.Duration(milliseconds.Value),
        _ => throw new ArgumentOutOfRangeException("ttlMs", milliseconds, "A time to live (ttlMs) must be a positive number of milliseconds."),
    };

    /// <summary>One operation of the table.</summary>
    /// <param name="Name">The method's name on the wire.</param>
    /// <param name="Bind">Makes the handler of a request of its own, for one connection.</param>
    /// <param name="Batched">Runs a call of a batch, given the <c>traceparent</c> its changes carry; null for an operation a batch cannot carry.</param>
    /// <param name="BatchedLength">The most elements a call of a batch has, its method included (<see cref="BatchPositions"/>).</param>
    private sealed record Operation(string Name, Func<WorkerConnection, Delegate> Bind, Func<WorkerConnection, BatchArguments, string?, ValueTask<object?>>? Batched = null, int BatchedLength = 0);
}
