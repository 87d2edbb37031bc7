using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Nerdbank.Streams;
using Rx.SharedMemory.Diagnostics;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Store;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A master's connection served over an in-process pipe, said hello to, its worker end a plain StreamJsonRpc client
/// with StreamJsonRpc's own <see cref="ActivityTracingStrategy"/>: a request of its own carries the caller's traceparent.
/// </summary>
internal sealed class InProcessConnection : IAsyncDisposable
{
    private readonly ChangeOutbox outbox = new(100, _ => default, NullLogger.Instance);
    private readonly JsonRpc master;

    private InProcessConnection(MasterMetrics? metrics, SharedMemoryOptions? options)
    {
        var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
        this.master = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()));
        OperationTable.Register(this.master, new WorkerConnection(this.Engine, this.outbox, options ?? new SharedMemoryOptions(), 1, region: null, NullLogger.Instance, metrics));
        this.master.StartListening();
        this.Worker = new JsonRpc(new HeaderDelimitedMessageHandler(workerEnd, workerEnd, new SystemTextJsonFormatter())) { ActivityTracingStrategy = new ActivityTracingStrategy() };
        this.Worker.StartListening();
    }

    public MemoryEngine Engine { get; } = new(new SharedMemoryOptions());

    public JsonRpc Worker { get; }

    /// <param name="cancellationToken">Cancels the hello.</param>
    /// <param name="metrics">Where the connection's operations are measured; null for the instruments no master owns.</param>
    /// <param name="options">The connection's options; null for the defaults.</param>
    public static async Task<InProcessConnection> StartAsync(CancellationToken cancellationToken, MasterMetrics? metrics = null, SharedMemoryOptions? options = null)
    {
        var connection = new InProcessConnection(metrics, options);
        await connection.Worker.InvokeWithCancellationAsync<JsonElement>(RpcMethods.Hello, [RpcMethods.ProtocolVersion, 1], cancellationToken);
        return connection;
    }

    public ValueTask DisposeAsync()
    {
        this.Worker.Dispose();
        this.master.Dispose();
        this.outbox.Dispose();
        this.Engine.Dispose();
        return default;
    }
}
