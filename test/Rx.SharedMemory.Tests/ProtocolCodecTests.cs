using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Nerdbank.Streams;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Store;
using Rx.SharedMemory.Worker;
using StreamJsonRpc.Protocol;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Every message of the protocol written with its codec and read back with the same codec, as the worker and the
/// master do; for a few, the exact JSON is pinned, so that the wire (docs/protocol.md) cannot drift unnoticed. The
/// requests that have no codec, written by StreamJsonRpc from positional arguments, are pinned as the worker writes
/// them (<see cref="PinnedRequests"/>; <see cref="OperationTableTests"/> pins how the master binds them).
/// </summary>
public sealed class ProtocolCodecTests : TestBase
{
    private static readonly DateTimeOffset At = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);

    [Fact]
    public async Task SingleRequests_AsTheWorkerWritesThem_ArePinned_AndTheirResultsRead()
    {
        var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
        var master = new RawPeer(masterEnd);
        var connecting = SharedMemoryWorker.ConnectAsync(workerEnd, workerEnd, loggerFactory: null, this.TimeoutToken);

        // A master that lists no features: every call is a request of its own, none goes in a batch.
        await master.AnswerAsync(new(RpcMethods.Hello, PinnedRequests.Hello, """{"protocolVersion":1,"workerId":1,"maxKeyLength":1024,"maxValueBytes":1048576}"""), this.TimeoutToken);
        await using var worker = await connecting;

        Assert.Equal(1, await this.AnsweredAsync(master, PinnedRequests.Set, worker.SetAsync("k", new[] { 1, 2 }, this.TimeoutToken)));
        var entry = await this.AnsweredAsync(master, PinnedRequests.Get, worker.GetEntryAsync<int[]>("k", this.TimeoutToken));
        Assert.Equal([1, 2], entry!.Value);
        Assert.Equal(1, entry.Version);
        Assert.Equal(2, await this.AnsweredAsync(master, PinnedRequests.SetWithOptions, worker.SetAsync("e", 1, new SetOptions { TimeToLive = TimeSpan.FromHours(1), Ephemeral = true }, this.TimeoutToken)));
        Assert.Equal(new CompareAndSetResult(true, 3), await this.AnsweredAsync(master, PinnedRequests.CompareAndSet, worker.CompareAndSetAsync("k", 1, new[] { 3 }, cancellationToken: this.TimeoutToken)));
        var counter = await this.AnsweredAsync(master, PinnedRequests.Increment, worker.IncrementAsync("n", cancellationToken: this.TimeoutToken));
        Assert.Equal((1L, 4L), (counter.Value, counter.Version));
        Assert.True(await this.AnsweredAsync(master, PinnedRequests.Delete, worker.DeleteAsync("k", this.TimeoutToken)));
        Assert.False(await this.AnsweredAsync(master, PinnedRequests.DeleteAbsent, worker.DeleteAsync("k", this.TimeoutToken)));
        Assert.Null(await this.AnsweredAsync(master, PinnedRequests.GetAbsent, worker.GetEntryAsync<int[]>("k", this.TimeoutToken)));

        // The token the master answered is the one the worker unlocks with.
        var held = await this.AnsweredAsync(master, PinnedRequests.Lock, worker.AcquireLockAsync("l", TimeSpan.FromSeconds(2), this.TimeoutToken));
        await this.AnsweredAsync(master, PinnedRequests.Unlock, held.DisposeAsync());

        // Subscriptions are numbered by the worker from 1; an unsubscription is a notification.
        using var subscription = worker.Observe("k").Subscribe(_ => { });
        await master.AnswerAsync(PinnedRequests.Subscribe, this.TimeoutToken);
        using var prefix = worker.ObservePrefix("p/", fromVersion: 7).Subscribe(_ => { });
        await master.AnswerAsync(PinnedRequests.SubscribePrefix, this.TimeoutToken);
        subscription.Dispose();
        await master.AnswerAsync(PinnedRequests.Unsubscribe, this.TimeoutToken);
    }

    [Fact]
    public void Changes_WrittenFromTheOutbox_ReadBackAsSent_AndPinned()
    {
        ChangeBatch sent = new([
            new OutboxItem(7, new ChangeRecord("a", KeyChangeKind.Set, """{"x":[1,2]}"""u8.ToArray(), 12, At), 3),
            new OutboxItem(7, new ChangeRecord("a", KeyChangeKind.Deleted, null, 13, At), 0),
            new OutboxItem(8, new ChangeRecord("n", KeyChangeKind.Reset, "null"u8.ToArray(), 5, At), 0),
            new OutboxItem(9, new ChangeRecord("p/", KeyChangeKind.PrefixReset, null, 13, At), 0),
        ]);

        string json = JsonSerializer.Serialize(sent);
        Assert.Equal(
            """[{"subscription":7,"key":"a","kind":"set","version":12,"timestamp":1700000000123,"skipped":3,"value":{"x":[1,2]}},"""
            + """{"subscription":7,"key":"a","kind":"deleted","version":13,"timestamp":1700000000123,"skipped":0},"""
            + """{"subscription":8,"key":"n","kind":"reset","version":5,"timestamp":1700000000123,"skipped":0,"value":null},"""
            + """{"subscription":9,"key":"p/","kind":"prefixReset","version":13,"timestamp":1700000000123,"skipped":0}]""",
            json);

        var received = JsonSerializer.Deserialize<ChangeBatch>(json).Received!;
        Assert.Equal(4, received.Count);
        for (int i = 0; i < received.Count; i++)
        {
            var expected = sent.Outgoing![i];
            var change = received[i].ToKeyChange();
            Assert.Equal(expected.SubscriptionId, received[i].Subscription);
            Assert.Equal((expected.Change.Key, expected.Change.Kind, expected.Change.Version, expected.Change.Timestamp, expected.Skipped), (change.Key, change.Kind, change.Version, change.Timestamp, change.SkippedVersions));
            Assert.Equal(expected.Change.Value is not null, change.HasValue);
            if (change.HasValue)
            {
                Assert.Equal(Encoding.UTF8.GetString(expected.Change.Value!), change.Value.GetRawText());
            }
        }

        // What was read writes back to the same bytes: one codec, both ways.
        Assert.Equal(json, JsonSerializer.Serialize(new ChangeBatch(received)));
    }

    [Fact]
    public void Changes_FromAnotherWriter_SkipPropertiesTheyDoNotKnow_AndTellAJsonNullFromNoValue()
    {
        const string json = """[{"extra":{"deep":[1]},"value":null,"kind":"set","key":"k","version":2,"subscription":1,"timestamp":0,"skipped":0},{"key":"k","kind":"deleted","version":3,"subscription":1,"timestamp":0,"skipped":0}]""";

        var received = JsonSerializer.Deserialize<ChangeBatch>(json).Received!;

        Assert.Equal(2, received.Count);
        Assert.Equal(JsonValueKind.Null, received[0].Value?.ValueKind);
        Assert.True(received[0].ToKeyChange().HasValue);
        Assert.Null(received[1].Value);
        Assert.Equal(KeyChangeKind.Deleted, received[1].Kind);
    }

    [Fact]
    public void Changes_CarryTheirWritersTraceParent_Pinned_AndIgnoreOneThatIsNot()
    {
        var context = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        string parent = $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-01";
        ChangeBatch sent = new([
            new OutboxItem(1, new ChangeRecord("k", KeyChangeKind.Set, "1"u8.ToArray(), 2, DateTimeOffset.UnixEpoch) { TraceParent = parent }, 0),
            new OutboxItem(1, new ChangeRecord("k", KeyChangeKind.Deleted, null, 3, DateTimeOffset.UnixEpoch), 0)]);

        string json = JsonSerializer.Serialize(sent);

        Assert.Equal($$"""[{"subscription":1,"key":"k","kind":"set","version":2,"timestamp":0,"skipped":0,"traceparent":"{{parent}}","value":1},{"subscription":1,"key":"k","kind":"deleted","version":3,"timestamp":0,"skipped":0}]""", json);
        var received = JsonSerializer.Deserialize<ChangeBatch>(json).Received!;
        Assert.Equal(parent, received[0].ToKeyChange().TraceParent);
        Assert.Equal(context.SpanId, Protocol.TraceParent.Parse(received[0].ToKeyChange().TraceParent).SpanId);
        Assert.Null(received[1].ToKeyChange().TraceParent);
        Assert.Equal(json, JsonSerializer.Serialize(new ChangeBatch(received)));

        // Kept as text, parsed only where an activity starts from it: one that is not a traceparent means none.
        var odd = JsonSerializer.Deserialize<ChangeBatch>("""[{"traceparent":{"x":1},"key":"k","kind":"set","version":2,"subscription":1,"timestamp":0,"skipped":0,"value":1},{"traceparent":"nonsense","key":"k","kind":"set","version":3,"subscription":1,"timestamp":0,"skipped":0,"value":1}]""").Received!;
        Assert.Null(odd[0].ToKeyChange().TraceParent);
        Assert.Equal(default, Protocol.TraceParent.Parse(odd[1].ToKeyChange().TraceParent));
        Assert.Equal(3, odd[1].Version);
    }

    [Fact]
    public void BatchTraceParents_OnePerCall_NoneWithoutAContext_AndReadLeniently()
    {
        string parent = $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-00";
        Assert.Null(BatchRequest.TraceParents([new TracedCall(null), new TracedCall(null)]));
        var parents = BatchRequest.TraceParents([new TracedCall(null), new TracedCall(parent)])!;
        Assert.Equal(new string?[] { null, parent }, parents);

        var wire = JsonSerializer.SerializeToElement(parents);
        Assert.Null(BatchRequest.TraceParentAt(wire, 0));
        Assert.Equal(parent, BatchRequest.TraceParentAt(wire, 1));
        Assert.Null(BatchRequest.TraceParentAt(wire, 2));
        Assert.Null(BatchRequest.TraceParentAt(null, 0));
        Assert.Null(BatchRequest.TraceParentAt(JsonSerializer.SerializeToElement(new object?[] { 7, 8 }), 1));
    }

    [Fact]
    public void BatchRequest_WrittenByTheWorker_ReadByTheMaster_AtTheNamedPositions()
    {
        using var setValue = Pooled(new { v = 1 });
        using var casValue = Pooled("large-value");
        using var setLarge = Pooled(new[] { 1, 2, 3, 4, 5 });
        BatchedCall[] calls =
        [
            Call(RpcMethods.Get, ["k"]),
            Call(RpcMethods.Set, ["k", setValue, 1500.0, true], BatchPositions.Set.RegionOffset),
            Call(RpcMethods.Set, ["big", setLarge], BatchPositions.Set.RegionOffset),
            Call(RpcMethods.CompareAndSet, ["k", 4L, casValue, null, false], BatchPositions.CompareAndSet.RegionOffset),
            Call(RpcMethods.Increment, ["n", 5L]),
            Call(RpcMethods.Delete, ["k"]),
            Call(RpcMethods.Unlock, ["l", 9L]),
        ];

        // The placer takes the values of ten bytes or more: the array and the string, not the object.
        string json = JsonSerializer.Serialize(new BatchRequest(calls, new Placer(minBytes: 10)));

        // Left-out arguments before a region's offset go as null: the positions, not the count, say what each is.
        Assert.Equal(
            """[["get","k"],["set","k",{"v":1},1500,true],["set","big",null,null,null,0,11],["compareAndSet","k",4,null,null,false,100,13],["increment","n",5],["delete","k"],["unlock","l",9]]""",
            json);

        var read = JsonSerializer.Deserialize<BatchRequest>(json);
        var arguments = read.Calls.EnumerateArray().Select(call => new BatchArguments(call)).ToArray();
        Assert.Equal(calls.Select(c => c.Method), arguments.Select(a => a.Method));
        Assert.Equal("k", arguments[0].String(BatchPositions.Get.Key, "key"));
        Assert.Equal("""{"v":1}""", arguments[1].Value(BatchPositions.Set.Value, "value").GetRawText());
        Assert.Equal(1500.0, arguments[1].OptionalDouble(BatchPositions.Set.TtlMs, "ttlMs"));
        Assert.True(arguments[1].OptionalBoolean(BatchPositions.Set.Ephemeral, "ephemeral"));
        Assert.Null(arguments[1].OptionalInt64(BatchPositions.Set.RegionOffset, "regionOffset"));
        Assert.Equal("big", arguments[2].String(BatchPositions.Set.Key, "key"));
        Assert.Equal(0, arguments[2].OptionalInt64(BatchPositions.Set.RegionOffset, "regionOffset"));
        Assert.Equal(11, arguments[2].OptionalInt64(BatchPositions.Set.RegionLength, "regionLength"));
        Assert.Null(arguments[2].OptionalDouble(BatchPositions.Set.TtlMs, "ttlMs"));
        Assert.False(arguments[2].OptionalBoolean(BatchPositions.Set.Ephemeral, "ephemeral"));
        Assert.Equal(4, arguments[3].Int64(BatchPositions.CompareAndSet.ExpectedVersion, "expectedVersion"));
        Assert.Equal(100, arguments[3].OptionalInt64(BatchPositions.CompareAndSet.RegionOffset, "regionOffset"));
        Assert.Equal(13, arguments[3].OptionalInt64(BatchPositions.CompareAndSet.RegionLength, "regionLength"));
        Assert.Equal(5, arguments[4].OptionalInt64(BatchPositions.Increment.Delta, "delta"));
        Assert.Equal("k", arguments[5].String(BatchPositions.Delete.Key, "key"));
        Assert.Equal(("l", 9L), (arguments[6].String(BatchPositions.Unlock.Name, "name"), arguments[6].Int64(BatchPositions.Unlock.Token, "token")));

        Assert.Equal(json, JsonSerializer.Serialize(read));
    }

    [Fact]
    public void BatchAnswer_WrittenByTheMaster_ReadByTheWorker_AndPinned()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            BatchAnswer.WriteResult(writer, 42L);
            BatchAnswer.WriteResult(writer, null);
            BatchAnswer.WriteResult(writer, true);
            BatchAnswer.WriteResult(writer, new EntryMessage<RawJson> { Value = new RawJson("[1]"u8.ToArray()), Version = 3 });
            BatchAnswer.WriteResult(writer, new CompareAndSetMessage { Succeeded = false, Version = 8 });
            BatchAnswer.WriteRegionResult(writer, version: 9, offset: 64, length: 40_000);
            BatchAnswer.WriteError(writer, RpcErrors.ToErrorDetail(new SharedMemoryLimitExceededException("k", "MaxValueBytes", 10, 11), "set"));
            BatchAnswer.WriteError(writer, RpcErrors.ToErrorDetail(new ArgumentException("bad key"), "set"));
            BatchAnswer.WriteNotRun(writer);
            writer.WriteEndArray();
        }

        string json = Encoding.UTF8.GetString(buffer.WrittenSpan);
        var limitMessage = new SharedMemoryLimitExceededException("k", "MaxValueBytes", 10, 11).Message;
        Assert.Equal(
            """[{"result":42},{"result":null},{"result":true},{"result":{"value":[1],"version":3}},{"result":{"succeeded":false,"version":8}},"""
            + """{"result":{"version":9,"region":[64,40000]}},"""
            + """{"error":{"code":-32010,"message":""" + JsonSerializer.Serialize(limitMessage) + ""","data":{"key":"k","limitName":"MaxValueBytes","limit":10,"actual":11}}},"""
            + """{"error":{"code":-32011,"message":"bad key"}},{"error":{"code":-32014,"message":"Not run: send it again."}}]""",
            json);

        var outcomes = JsonDocument.Parse(json).RootElement.EnumerateArray().ToArray();
        var options = JsonSerializerOptions.Default;
        Assert.True(BatchAnswer.TryReadOutcome(outcomes[0], options, out var result, out var error));
        Assert.Null(error);
        Assert.Equal(42, result.GetInt64());
        Assert.True(BatchAnswer.TryReadOutcome(outcomes[1], options, out result, out _));
        Assert.Equal(JsonValueKind.Null, result.ValueKind);
        Assert.True(BatchAnswer.TryReadOutcome(outcomes[3], options, out result, out _));
        var entry = result.Deserialize<EntryMessage<int[]>>()!;
        Assert.Equal([1], entry.Value);
        Assert.Equal(3, entry.Version);
        Assert.True(BatchAnswer.TryReadOutcome(outcomes[4], options, out result, out _));
        Assert.Equal((false, 8L), (result.Deserialize<CompareAndSetMessage>()!.Succeeded, result.Deserialize<CompareAndSetMessage>()!.Version));
        Assert.False(BatchAnswer.TryReadRegionResult(outcomes[3], out _, out _, out _));
        Assert.True(BatchAnswer.TryReadRegionResult(outcomes[5], out long version, out long offset, out long length));
        Assert.Equal((9L, 64L, 40_000L), (version, offset, length));

        Assert.True(BatchAnswer.TryReadOutcome(outcomes[6], options, out _, out error));
        var limit = Assert.IsType<SharedMemoryLimitExceededException>(error);
        Assert.Equal(("k", "MaxValueBytes", 10L, 11L), (limit.Key, limit.LimitName, limit.Limit, limit.Actual));
        Assert.True(BatchAnswer.TryReadOutcome(outcomes[7], options, out _, out error));
        Assert.Equal("bad key", Assert.IsType<ArgumentException>(error).Message);
        Assert.Equal([false, false, false, false, false, false, false, false, true], outcomes.Select(BatchAnswer.IsNotRun));
        Assert.False(BatchAnswer.TryReadOutcome(JsonDocument.Parse("""{"neither":1}""").RootElement, options, out _, out _));
    }

    [Fact]
    public void ErrorCodes_MapEveryExceptionOfOursToOneCode_AndBackToTheSameType()
    {
        (Exception Thrown, int Code, Type Read)[] cases =
        [
            (new SharedMemoryLimitExceededException("k", "MaxKeyLength", 1, 2), RpcErrorCodes.LimitExceeded, typeof(SharedMemoryLimitExceededException)),
            (new ArgumentOutOfRangeException("ttlMs"), RpcErrorCodes.InvalidArgument, typeof(ArgumentException)),
            (new InvalidOperationException("not a number"), RpcErrorCodes.InvalidOperation, typeof(InvalidOperationException)),
            (new TimeoutException("lock"), RpcErrorCodes.Timeout, typeof(TimeoutException)),
            (new SharedMemoryUnavailableException("redis down"), RpcErrorCodes.Unavailable, typeof(SharedMemoryUnavailableException)),
            (new ProtocolOrderException("hello first"), RpcErrorCodes.OutOfOrder, typeof(SharedMemoryException)),
        ];

        foreach (var (thrown, code, read) in cases)
        {
            var detail = RpcErrors.ToErrorDetail(thrown, "set");
            Assert.Equal(code, (int)detail.Code);
            Assert.False(RpcErrors.IsInternal(detail));
            var buffer = new ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                BatchAnswer.WriteError(writer, detail);
            }

            var outcome = JsonDocument.Parse(buffer.WrittenMemory).RootElement;
            Assert.Equal(code, outcome.GetProperty("error").GetProperty("code").GetInt32());
            Assert.True(BatchAnswer.TryReadOutcome(outcome, JsonSerializerOptions.Default, out _, out var error));
            Assert.IsType(read, error);
        }

        // Anything else is the master's own fault: a plain message, and nothing of .NET in the answer.
        var cancelled = RpcErrors.ToErrorDetail(new OperationCanceledException("cancelled at Rx.SharedMemory.Master"), "lock");
        Assert.Equal((JsonRpcErrorCode.RequestCanceled, null), (cancelled.Code, cancelled.Data));
        Assert.DoesNotContain("Rx.SharedMemory", cancelled.Message, StringComparison.Ordinal);
        foreach (var unexpected in new Exception[] { new NullReferenceException(), new OverflowException("TimeSpan overflowed"), new InvalidCastException() })
        {
            var detail = RpcErrors.ToErrorDetail(unexpected, "lock");
            Assert.True(RpcErrors.IsInternal(detail));
            Assert.Equal((-32603, "The master failed to run 'lock': an internal error, which it logged.", null), ((int)detail.Code, detail.Message, detail.Data));
        }
    }

    [Fact]
    public void Hello_RoundTrips_AndIsPinned()
    {
        var hello = new HelloResult { ProtocolVersion = 1, WorkerId = 3, MaxKeyLength = 1024, MaxValueBytes = 16, Features = [RpcMethods.BatchFeature, RpcMethods.SharedRegionFeature] };

        string json = JsonSerializer.Serialize(hello);
        Assert.Equal("""{"protocolVersion":1,"workerId":3,"maxKeyLength":1024,"maxValueBytes":16,"features":["batch","sharedRegion"]}""", json);

        var read = JsonSerializer.Deserialize<HelloResult>(json)!;
        Assert.Equal((1, 3, 1024, 16), (read.ProtocolVersion, read.WorkerId, read.MaxKeyLength, read.MaxValueBytes));
        Assert.Equal(hello.Features, read.Features);
        Assert.Null(JsonSerializer.Deserialize<HelloResult>("""{"protocolVersion":1,"workerId":3,"maxKeyLength":1,"maxValueBytes":1}""")!.Features);
    }

    [Fact]
    public void SingleRequestResults_RoundTrip()
    {
        var entry = JsonSerializer.Deserialize<EntryMessage<RawJson>>(JsonSerializer.Serialize(new EntryMessage<RawJson> { Value = new RawJson("""{"a":"\u00e9"}"""u8.ToArray()), Version = 2 }))!;
        Assert.Equal("""{"a":"\u00e9"}""", Encoding.UTF8.GetString(entry.Value.Utf8));
        Assert.Equal(2, entry.Version);

        var counter = JsonSerializer.Deserialize<EntryMessage<long>>(JsonSerializer.Serialize(new EntryMessage<long> { Value = -4, Version = 6 }))!;
        Assert.Equal((-4L, 6L), (counter.Value, counter.Version));

        var cas = JsonSerializer.Deserialize<CompareAndSetMessage>(JsonSerializer.Serialize(new CompareAndSetMessage { Succeeded = true, Version = 10 }))!;
        Assert.Equal((true, 10L), (cas.Succeeded, cas.Version));

        var data = new LimitErrorData(null, "MaxEntries", 5, 6);
        Assert.Equal("""{"key":null,"limitName":"MaxEntries","limit":5,"actual":6}""", JsonSerializer.Serialize(data));
        Assert.Equal(data, JsonSerializer.Deserialize<LimitErrorData>(JsonSerializer.Serialize(data)));

        foreach (var kind in Enum.GetValues<KeyChangeKind>())
        {
            Assert.Equal(kind, ChangeKindNames.FromWire(ChangeKindNames.ToWire(kind)));
        }
    }

    [Fact]
    public void Limits_HoldTogether()
    {
        // A value at the deepest allowed nesting still fits inside the deepest message that carries it.
        Assert.True(ProtocolLimits.MaxValueDepth + ProtocolLimits.MessageDepth <= ProtocolLimits.ParserMaxDepth);
        static string Nested(int depth) => new string('[', depth) + new string(']', depth);
        using (JsonDocument.Parse(Nested(ProtocolLimits.ParserMaxDepth)))
        {
        }

        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(Nested(ProtocolLimits.ParserMaxDepth + 1)));

        // The frame limit: the largest value, the longest key escaped (\uXXXX), and 4 KiB of envelope.
        Assert.Equal(16L * 1024 * 1024 + (6 * 1024) + 4096, ProtocolLimits.MaxFrameBytes(16 * 1024 * 1024, 1024));

        // A batch the worker fills to its limit, with its longest key, stays within the smallest frame the master allows.
        Assert.True(ProtocolLimits.MaxBatchBytes + ProtocolLimits.BatchCallBytes(1024, 0) < ProtocolLimits.MaxFrameBytes(ProtocolLimits.MaxBatchBytes, 1024));
        Assert.Equal(Math.Max(ProtocolLimits.MinAnswerBudget, 32 * 1024 * 1024), ProtocolLimits.AnswerBudget(32 * 1024 * 1024));
        Assert.Equal(ProtocolLimits.MinAnswerBudget, ProtocolLimits.AnswerBudget(1024));
    }

    /// <summary>Answers a call of the worker's, once the master's end has read it as <paramref name="exchange"/> exactly.</summary>
    private async Task<T> AnsweredAsync<T>(RawPeer master, PinnedRequests.Exchange exchange, ValueTask<T> call)
    {
        await master.AnswerAsync(exchange, this.TimeoutToken);
        return await call.AsTask().WaitAsync(this.TimeoutToken);
    }

    private async Task AnsweredAsync(RawPeer master, PinnedRequests.Exchange exchange, ValueTask call)
    {
        await master.AnswerAsync(exchange, this.TimeoutToken);
        await call.AsTask().WaitAsync(this.TimeoutToken);
    }

    private static BatchedCall<long> Call(string method, object?[] arguments, int regionAt = 0) =>
        new(method, arguments, 100, static (result, _) => result.GetInt64(), CancellationToken.None, regionAt);

    /// <summary>A shared region stand-in: places values of at least <paramref name="minBytes"/>, at 0, then 100.</summary>
    private sealed class Placer(int minBytes) : BatchRequest.IValuePlacer
    {
        private int next;

        public int? TryPlace(ReadOnlySequence<byte> value)
        {
            if (value.Length < minBytes)
            {
                return null;
            }

            int offset = this.next;
            this.next += 100;
            return offset;
        }
    }

    private static PooledJson Pooled<T>(T value) => PooledJson.Serialize(value, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)JsonSerializerOptions.Default.GetTypeInfo(typeof(T)));

    private sealed record TracedCall(string? TraceParent) : BatchRequest.IBatchCall
    {
        public string Method => RpcMethods.Get;

        public object?[] Arguments => ["k"];

        public int RegionAt => 0;
    }
}
