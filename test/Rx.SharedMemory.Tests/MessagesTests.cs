using System.Diagnostics.CodeAnalysis;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging.Abstractions;
using Nerdbank.Streams;
using Rx.SharedMemory.Engine;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Store;
using Rx.SharedMemory.TestWorker.Scenarios;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>Messages between the master and its workers, over real pipes to real worker processes.</summary>
public sealed class MessagesTests : WorkerProcessTestBase
{
    // How long a send must wait to count as held back: short, since a test that passes waits it once.
    private static readonly TimeSpan ExpectedWait = TimeSpan.FromSeconds(1);

    // Small queues, so that a worker that does not read fills its bound after a few hundred messages.
    public MessagesTests()
        : base(new SharedMemoryOptions { SubscriberQueueCapacity = 100, MaxValueBytes = 64 * 1024 })
    {
    }

    [Fact]
    public async Task SendToOneWorker_AndBroadcast_ReachEachWorkerInOrder()
    {
        var first = await this.SpawnReadyAsync("messages", "receive");
        var second = await this.SpawnReadyAsync("messages", "receive");

        await first.Worker.SendAsync(new { To = "first", N = 1 }, this.TimeoutToken);
        await first.Worker.SendAsync(new { To = "first", N = 2 }, this.TimeoutToken);
        Assert.Equal(2, await this.Master.BroadcastAsync(new { To = "all" }, this.TimeoutToken));
        Assert.Equal(2, await this.Master.BroadcastAsync("end", this.TimeoutToken));

        var firstSaw = await this.ReportAfterExitAsync<MessagesScenario.Report>(first);
        var secondSaw = await this.ReportAfterExitAsync<MessagesScenario.Report>(second);
        Assert.Equal(["""{"To":"first","N":1}""", """{"To":"first","N":2}""", """{"To":"all"}"""], firstSaw.Messages);
        Assert.Equal(["""{"To":"all"}"""], secondSaw.Messages);
    }

    [Fact]
    public async Task TypedSends_WriteWithTheirJsonTypeInfo_BothWays()
    {
        // ReadingJsonContext writes snake_case, which the defaults the master and the worker use do not.
        var contract = ReadingJsonContext.Default.Reading;
        var receiver = await this.SpawnReadyAsync("messages", "receive");
        await receiver.Worker.SendAsync(new Reading("to-one", 1.5), contract, this.TimeoutToken);
        Assert.Equal(1, await this.Master.BroadcastAsync(new Reading("to-all", 2.5), contract, this.TimeoutToken));
        await receiver.Worker.SendAsync("end", this.TimeoutToken);
        var saw = await this.ReportAfterExitAsync<MessagesScenario.Report>(receiver);
        Assert.Equal(["""{"sensor_name":"to-one","value":1.5}""", """{"sensor_name":"to-all","value":2.5}"""], saw.Messages);

        var fromWorker = this.Master.Messages.FirstAsync().ToTask(this.TimeoutToken);
        var sender = await this.SpawnAsync("messages", "send-typed");
        var message = await fromWorker;
        Assert.Equal(sender.Worker.Id, message.WorkerId);
        Assert.Equal("""{"sensor_name":"worker","value":2.5}""", Encoding.UTF8.GetString(message.Json.Span));
        Assert.Equal(new Reading("worker", 2.5), message.Deserialize(contract));
        await sender.Worker.SendAsync("done", this.TimeoutToken);
        await this.ReportAfterExitAsync(sender);
    }

    [Fact]
    public async Task TheMastersSends_RefuseANullJsonTypeInfo_AndSendNothingOnACanceledToken()
    {
        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();

        // Refused even with no worker to send to, as a store call with a canceled token is.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => this.Master.BroadcastAsync(1, canceled.Token).AsTask());

        var receiver = await this.SpawnReadyAsync("messages", "receive");
        var contract = ReadingJsonContext.Default.Reading;
        var reading = new Reading("refused", 1);
        var toOne = await Assert.ThrowsAsync<ArgumentNullException>(() => receiver.Worker.SendAsync(reading, (JsonTypeInfo<Reading>)null!, this.TimeoutToken).AsTask());
        var toAll = await Assert.ThrowsAsync<ArgumentNullException>(() => this.Master.BroadcastAsync(reading, (JsonTypeInfo<Reading>)null!, this.TimeoutToken).AsTask());
        Assert.Equal("jsonTypeInfo", toOne.ParamName);
        Assert.Equal("jsonTypeInfo", toAll.ParamName);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => receiver.Worker.SendAsync(reading, canceled.Token).AsTask());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => receiver.Worker.SendAsync(reading, contract, canceled.Token).AsTask());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => this.Master.BroadcastAsync(reading, canceled.Token).AsTask());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => this.Master.BroadcastAsync(reading, contract, canceled.Token).AsTask());

        // None of them reached the worker.
        await receiver.Worker.SendAsync("end", this.TimeoutToken);
        Assert.Empty((await this.ReportAfterExitAsync<MessagesScenario.Report>(receiver)).Messages);
    }

    [Fact]
    public async Task AWorkersSend_RefusesANullJsonTypeInfo_AndWritesNothingOnACanceledToken()
    {
        var (connected, master) = await RawPeer.ConnectWorkerAsync("""["batch","messages"]""", this.TimeoutToken);
        await using var worker = connected;
        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();
        var contract = ReadingJsonContext.Default.Reading;
        var reading = new Reading("refused", 1);

        var refused = await Assert.ThrowsAsync<ArgumentNullException>(() => worker.SendAsync(reading, (JsonTypeInfo<Reading>)null!, this.TimeoutToken).AsTask());
        Assert.Equal("jsonTypeInfo", refused.ParamName);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => worker.SendAsync(reading, canceled.Token).AsTask());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => worker.SendAsync(reading, contract, canceled.Token).AsTask());

        // The first message the master reads is the one sent after them, written with its contract.
        await worker.SendAsync(new Reading("sent", 2), contract, this.TimeoutToken);
        var sent = await master.ReadAsync(this.TimeoutToken);
        Assert.Equal("""{"jsonrpc":"2.0","method":"message","params":{"message":{"sensor_name":"sent","value":2}}}""", sent.GetRawText());
    }

    [Fact]
    public void ReceivedMessages_RefuseANullJsonTypeInfo()
    {
        var fromMaster = new MasterMessage("1"u8.ToArray(), JsonSerializerOptions.Default);
        var fromWorker = new WorkerMessage(1, "1"u8.ToArray(), options: null);

        Assert.Equal("jsonTypeInfo", Assert.Throws<ArgumentNullException>(() => fromMaster.Deserialize((JsonTypeInfo<int>)null!)).ParamName);
        Assert.Equal("jsonTypeInfo", Assert.Throws<ArgumentNullException>(() => fromWorker.Deserialize((JsonTypeInfo<int>)null!)).ParamName);
    }

    [Fact]
    public void EveryTypedSendAndRead_HasAJsonTypeInfoOverload_AndOnlyThoseWithoutOneNeedReflection()
    {
        var methods = new[] { typeof(IWorker), typeof(SharedMemoryMaster), typeof(SharedMemoryWorker), typeof(MasterMessage), typeof(WorkerMessage) }
            .SelectMany(type => type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Where(method => method.IsGenericMethodDefinition && method.Name is "SendAsync" or "BroadcastAsync" or "Deserialize")
            .ToArray();

        // Each type's sends (or reads) come in pairs: one with a JsonTypeInfo<T>, annotated with neither attribute,
        // and one without, annotated with both.
        Assert.Equal(10, methods.Length);
        foreach (var pair in methods.GroupBy(method => (method.DeclaringType, method.Name)))
        {
            Assert.Equal([false, true], pair.Select(HasJsonTypeInfo).Order());
            foreach (var method in pair)
            {
                bool reflection = !HasJsonTypeInfo(method);
                Assert.True(reflection == method.IsDefined(typeof(RequiresUnreferencedCodeAttribute)), $"{pair.Key}: RequiresUnreferencedCode");
                Assert.True(reflection == method.IsDefined(typeof(RequiresDynamicCodeAttribute)), $"{pair.Key}: RequiresDynamicCode");
            }
        }

        static bool HasJsonTypeInfo(MethodInfo method) =>
            method.GetParameters().Any(parameter => parameter.ParameterType.IsGenericType && parameter.ParameterType.GetGenericTypeDefinition() == typeof(JsonTypeInfo<>));
    }

    [Fact]
    public async Task WorkerToMaster_TenThousandMessages_ArriveInOrder_WithTheSendersId()
    {
        const int N = 10_000;
        var received = this.Master.Messages.Replay();
        using var connection = received.Connect();

        var sender = await this.SpawnAsync("messages", "send", N.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var all = await received.Where(m => m.WorkerId == sender.Worker.Id).TakeWhile(m => m.Deserialize<JsonElement>().ValueKind != JsonValueKind.String).ToArray().ToTask(this.TimeoutToken);
        await sender.Worker.SendAsync("done", this.TimeoutToken);
        await this.ReportAfterExitAsync(sender);

        Assert.Equal(Enumerable.Range(1, N), all.Select(m => m.Deserialize<MessagesScenario.Sequenced>()!.Seq));
    }

    [Fact]
    public async Task AWorkersMessage_ComesAfterTheWritesItMadeBeforeIt_EvenUnawaited()
    {
        // The worker awaits nothing: its sets queue behind the batch in flight, and each message must still reach the
        // master after both sets made before it have run, and after the messages before it.
        const int N = 500;
        var seen = new List<(int Seq, bool HasY)>();
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var observer = this.Master.Messages.Subscribe(m =>
        {
            if (m.Deserialize<JsonElement>().ValueKind == JsonValueKind.String)
            {
                ended.TrySetResult();
                return;
            }

            int seq = m.Deserialize<MessagesScenario.Sequenced>()!.Seq;

            // Read as the message is delivered, not later: an await here would let the set catch up. The embedded
            // engine's get completes at once.
#pragma warning disable VSTHRD002
            seen.Add((seq, this.Master.Store.GetEntryAsync<int>($"after/{seq}/y").AsTask().GetAwaiter().GetResult() is not null));
#pragma warning restore VSTHRD002
        });

        var sender = await this.SpawnAsync("messages", "send-after-writes", N.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await ended.Task.WaitAsync(this.TimeoutToken);
        await sender.Worker.SendAsync("done", this.TimeoutToken);
        await this.ReportAfterExitAsync(sender);

        Assert.Equal(Enumerable.Range(1, N), seen.Select(s => s.Seq));
        Assert.Empty(seen.Where(s => !s.HasY).Select(s => s.Seq));
    }

    [Fact]
    public async Task MasterToWorker_TenThousandMessages_AndChangesBetweenThem_ArriveInOrder()
    {
        const int N = 10_000;
        var receiver = await this.SpawnReadyAsync("messages", "receive", "order");

        for (int i = 1; i <= N; i++)
        {
            if (i % 100 == 0)
            {
                await this.Master.Store.SetAsync("order", i, this.TimeoutToken);
            }

            await receiver.Worker.SendAsync(i, this.TimeoutToken);
        }

        await this.Master.Store.SetAsync("order", -1, this.TimeoutToken);
        await receiver.Worker.SendAsync("end", this.TimeoutToken);

        var saw = await this.ReportAfterExitAsync<MessagesScenario.Report>(receiver);
        Assert.Equal(Enumerable.Range(1, N).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), saw.Messages);
        Assert.Equal(Enumerable.Range(1, N / 100).Select(i => i * 100L), saw.Order);
    }

    [Fact]
    public async Task AWorkerThatDoesNotRead_MakesSendWait_WhileOthersGetTheirs()
    {
        var holder = await this.SpawnReadyAsync("messages", "hold");
        var other = await this.SpawnReadyAsync("messages", "receive");
        string payload = new('x', 4096);

        // Sends complete as they are queued, until the holder's pipe, the master's write buffer and the holder's
        // queue of 100 messages are full: then one waits. Bounded: far fewer than this many get in.
        const int Attempts = 5_000;
        var (waiting, queued) = await SendUntilOneWaitsAsync(holder.Worker, payload, Attempts, this.TimeoutToken);
        Assert.True(queued < Attempts, "Every send completed: the master buffered without bound.");

        // Another worker gets its messages meanwhile, and the send to the holder still waits.
        await other.Worker.SendAsync("to-other", this.TimeoutToken);
        await other.Worker.SendAsync("end", this.TimeoutToken);
        var saw = await this.ReportAfterExitAsync<MessagesScenario.Report>(other);
        Assert.Equal(["\"to-other\""], saw.Messages);
        Assert.False(waiting.IsCompleted);

        // Its worker killed, the waiting send ends rather than hanging: let in as the dying connection drains (what is
        // queued for a worker that is gone is dropped with a log line, as its changes are), or refused once the
        // connection is closed. After the worker's exit, every send is refused.
        holder.Worker.Kill();
        try
        {
            await waiting.WaitAsync(this.TimeoutToken);
        }
        catch (ObjectDisposedException)
        {
        }

        await holder.Worker.Exited.WaitAsync(this.TimeoutToken);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => holder.Worker.SendAsync(1, this.TimeoutToken).AsTask());
    }

    [Fact]
    public async Task ASlowObserverOnTheMaster_HoldsBackTheSender_NotOtherWorkersCalls()
    {
        using var release = new ManualResetEventSlim();
        var firstSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int seen = 0;
        using var slow = this.Master.Messages.Subscribe(_ =>
        {
            Interlocked.Increment(ref seen);
            firstSeen.TrySetResult();
            release.Wait(this.TimeoutToken);
        });

        // Far more than the observer's queue of 100 and the pipe hold: the sender's pipe stops being read.
        var sender = await this.SpawnAsync("messages", "send", "10000");
        await firstSeen.Task.WaitAsync(this.TimeoutToken);

        // Another worker connects and makes its calls (hello, and the set of its ready key) meanwhile.
        var other = await this.SpawnReadyAsync("messages", "receive");
        await other.Worker.SendAsync("end", this.TimeoutToken);
        await this.ReportAfterExitAsync(other);
        Assert.Equal(1, Volatile.Read(ref seen));
        Assert.False(sender.Worker.Exited.IsCompleted);

        // Released, the observer takes every message: none was dropped.
        var done = this.Master.Messages.Where(m => m.WorkerId == sender.Worker.Id && m.Deserialize<JsonElement>().ValueKind == JsonValueKind.String).FirstAsync().ToTask(this.TimeoutToken);
        release.Set();
        await done;
        await sender.Worker.SendAsync("done", this.TimeoutToken);
        await this.ReportAfterExitAsync(sender);
        Assert.Equal(10_001, Volatile.Read(ref seen));
    }

    /// <summary>
    /// README, A dead master: "A worker's pending and later calls throw SharedMemoryDisconnectedException, whatever its
    /// observers are doing". A worker whose Messages observer is behind stops reading its pipe, so the master's end of
    /// file waits behind the held message: the worker must learn of the master's going from the pipe's hang-up. Without
    /// that, its lock wait stayed pending and the master's disposal killed it after its shutdown timeout.
    /// </summary>
    [Fact]
    public async Task AWorkerWhoseMessageObserverIsBehind_StillLearnsItsMasterWent()
    {
        // Held by the master, so that the worker's request for it waits.
        var held = await this.Master.Store.AcquireLockAsync("held", TimeSpan.FromSeconds(30), this.TimeoutToken);
        var told = this.Master.Messages.Replay();
        using var listening = told.Connect();
        var worker = await this.SpawnReadyAsync("messages", "hold-lock-wait");

        // The first is taken by the observer, which blocks; then the second fills its queue of one, and the third holds
        // the pipe.
        await worker.Worker.SendAsync(1, this.TimeoutToken);
        await this.FirstAsync(told, m => m.WorkerId == worker.Worker.Id && m.Deserialize<string>() == "taken");
        await worker.Worker.SendAsync(2, this.TimeoutToken);
        await worker.Worker.SendAsync(3, this.TimeoutToken);

        await this.FirstAsync(told, m => m.WorkerId == worker.Worker.Id && m.Deserialize<string>() == "blocked");
        await this.Master.DisposeAsync();

        var report = await this.ReportAfterExitAsync<MessagesScenario.Report>(worker);
        Assert.Equal(["lost", "completed"], report.Messages);
        GC.KeepAlive(held);
    }

    [Fact]
    public async Task AWaitingSend_IsWithdrawnByItsToken()
    {
        var holder = await this.SpawnReadyAsync("messages", "hold");
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(this.TimeoutToken);
        var (waiting, _) = await SendUntilOneWaitsAsync(holder.Worker, new string('x', 4096), 5_000, cancel.Token);
        Assert.False(waiting.IsCompleted);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        holder.Worker.Kill();
    }

    [Fact]
    public async Task AnOversizedMessage_IsRefused_NamingTheLimit()
    {
        var receiver = await this.SpawnReadyAsync("messages", "receive");
        string large = new('x', 64 * 1024);

        var toOne = await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(() => receiver.Worker.SendAsync(large, this.TimeoutToken).AsTask());
        var toAll = await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(() => this.Master.BroadcastAsync(large, this.TimeoutToken).AsTask());
        var deep = await Assert.ThrowsAsync<SharedMemoryLimitExceededException>(() => receiver.Worker.SendAsync(Nested(40), this.TimeoutToken).AsTask());

        Assert.Equal(nameof(SharedMemoryOptions.MaxValueBytes), toOne.LimitName);
        Assert.Equal(64 * 1024, toOne.Limit);
        Assert.Equal((64 * 1024) + 2, toOne.Actual);
        Assert.Contains("MaxValueBytes", toOne.Message, StringComparison.Ordinal);
        Assert.Equal(nameof(SharedMemoryOptions.MaxValueBytes), toAll.LimitName);
        Assert.Equal(nameof(SharedMemoryOptions.MaxValueDepth), deep.LimitName);

        // Nothing of them reached the worker.
        await receiver.Worker.SendAsync("end", this.TimeoutToken);
        Assert.Empty((await this.ReportAfterExitAsync<MessagesScenario.Report>(receiver)).Messages);
    }

    [Fact]
    public async Task AfterTheMasterIsDisposed_SendAndBroadcastFail_AndMessagesComplete()
    {
        var receiver = await this.SpawnReadyAsync("messages", "receive");
        var completed = this.Master.Messages.LastOrDefaultAsync().ToTask(this.TimeoutToken);
        bool completedInOrder = false;
        using var observer = this.Master.Messages.Subscribe(_ => { }, () => completedInOrder = true);

        await this.Master.DisposeAsync();

        // With nothing queued for them, the observers have completed by the time the disposal returns.
        Assert.True(completedInOrder);
        Assert.True(completed.IsCompleted);

        await Assert.ThrowsAsync<ObjectDisposedException>(() => receiver.Worker.SendAsync(1, this.TimeoutToken).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => this.Master.BroadcastAsync(1, this.TimeoutToken).AsTask());
        Assert.Null(await completed);
        var late = await Assert.ThrowsAsync<ObjectDisposedException>(() => this.Master.Messages.FirstAsync().ToTask(this.TimeoutToken));
        Assert.NotNull(late);
    }

    [Fact]
    public async Task AWorker_WhoseMasterDoesNotTakeMessages_GetsNotSupported()
    {
        var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
        using var rpc = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()), new FeaturelessMaster());
        rpc.StartListening();
        await using var worker = await SharedMemoryWorker.ConnectAsync(workerEnd, workerEnd, loggerFactory: null, this.TimeoutToken);

        var refused = await Assert.ThrowsAsync<NotSupportedException>(() => worker.SendAsync(new { A = 1 }, this.TimeoutToken).AsTask());
        Assert.Contains("\"messages\"", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AfterTheWorkerIsDisposed_ItsSendFails_AndItsMessagesComplete()
    {
        var (worker, _) = await RawPeer.ConnectWorkerAsync("""["messages"]""", this.TimeoutToken);
        var completed = worker.Messages.LastOrDefaultAsync().ToTask(this.TimeoutToken);

        await worker.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => worker.SendAsync(1, this.TimeoutToken).AsTask());
        Assert.Null(await completed);
    }

    [Fact]
    public async Task TheMessageNotification_IsPinned_BothWays()
    {
        var (connected, master) = await RawPeer.ConnectWorkerAsync("""["batch","messages"]""", this.TimeoutToken);
        await using var worker = connected;

        // Worker to master: a notification, its params an object with the message's JSON as the worker serializes values.
        await worker.SendAsync(new { Job = "a", Tries = new[] { 1, 2 } }, this.TimeoutToken);
        var sent = await master.ReadAsync(this.TimeoutToken);
        Assert.Equal("""{"jsonrpc":"2.0","method":"message","params":{"message":{"Job":"a","Tries":[1,2]}}}""", sent.GetRawText());

        // Master to worker: the same shape; the worker reads the message as it was written.
        var received = worker.Messages.FirstAsync().ToTask(this.TimeoutToken);
        await master.WriteAsync("""{"jsonrpc":"2.0","method":"message","params":{"message":{"Job":"b","Tries":[3]}}}""", this.TimeoutToken);
        var message = await received;
        Assert.Equal("""{"Job":"b","Tries":[3]}""", Encoding.UTF8.GetString(message.Json.Span));
        Assert.Equal([3], message.Deserialize<JsonElement>().GetProperty("Tries").Deserialize<int[]>()!);

        // The master writes it with the same codec.
        Assert.Equal("""{"message":{"Job":"b","Tries":[3]}}""", JsonSerializer.Serialize(new Protocol.MessageNotification(new Protocol.RawJson("""{"Job":"b","Tries":[3]}"""u8.ToArray()))));
    }

    /// <summary>
    /// Sends until a send has waited <see cref="ExpectedWait"/> (what a test waits for something that must not happen):
    /// a send may wait a moment while the pipes between the processes fill, and only the one that stays waiting counts.
    /// </summary>
    private static async Task<(Task Waiting, int Queued)> SendUntilOneWaitsAsync(IWorker worker, string payload, int attempts, CancellationToken cancellationToken)
    {
        for (int queued = 0; queued < attempts; queued++)
        {
            var sending = worker.SendAsync(payload, cancellationToken).AsTask();
            if (await Task.WhenAny(sending, Task.Delay(ExpectedWait, cancellationToken)) != sending)
            {
                return (sending, queued);
            }

            await sending;
        }

        return (Task.CompletedTask, attempts);
    }

    private static object Nested(int depth)
    {
        object value = 1;
        for (int i = 0; i < depth; i++)
        {
            value = new[] { value };
        }

        return value;
    }

    [Fact]
    public void RefusedMessages_AreLoggedAtTheFirstSecondFourthAndEighth_SoThatAFloodGrowsTheLogWithItsLogarithm()
    {
        using var logs = new RecordingLoggerFactory();
        var refusals = new List<string>();
        using var recording = logs.Records.Where(r => r.EventId.Id == 130).Subscribe(r => refusals.Add(r.Message));
        var options = new SharedMemoryOptions();
        using var engine = new MemoryEngine(options);
        using var outbox = new ChangeOutbox(100, _ => default, NullLogger.Instance);
        var connection = new WorkerConnection(engine, outbox, options, 1, region: null, logs.CreateLogger("test"));
        using var message = JsonDocument.Parse("\"early\"");

        // Before hello, each message is refused: 1,000 of them, and 10 lines (the 1st, 2nd, 4th, ..., 512th).
        for (int i = 0; i < 1000; i++)
        {
            connection.OnMessage(message.RootElement);
        }

        Assert.Equal(10, refusals.Count);
        Assert.Contains("(1 of its messages so far", refusals[0], StringComparison.Ordinal);
        Assert.Contains("(512 of its messages so far", refusals[^1], StringComparison.Ordinal);
        Assert.All(refusals, r => Assert.EndsWith("it came before hello", r, StringComparison.Ordinal));
    }
}
