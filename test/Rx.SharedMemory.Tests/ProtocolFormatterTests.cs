using System.Buffers;
using System.Text;
using System.Text.Json;
using Rx.SharedMemory.Master;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Worker;
using StreamJsonRpc;
using StreamJsonRpc.Protocol;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// The library's formatter writes what StreamJsonRpc's <see cref="SystemTextJsonFormatter"/>, which the connection
/// used before, wrote for the same message, byte for byte; reads what it read; and refuses what it refused.
/// </summary>
public sealed class ProtocolFormatterTests
{
    private static readonly LimitErrorData Limit = new("k", "MaxValueBytes", 10, 12);

    public static TheoryData<string> Messages => [.. Written.Keys];

    private static Dictionary<string, Func<JsonRpcMessage>> Written { get; } = new()
    {
        ["request by position"] = () => Request(1, RpcMethods.Set, ["k", new RawJson("[1,2]"u8.ToArray()), 3600000.0, true]),
        ["request with nulls"] = () => Request(2, RpcMethods.CompareAndSet, ["k", 1L, new RawJson("[3]"u8.ToArray()), null, false]),
        ["request with a pooled value"] = () => Request(3, RpcMethods.Set, ["k", PooledJson.Serialize("value", ProtocolJsonContext.Default.String)]),
        ["request with a nullable number"] = () => Request(4, RpcMethods.Subscribe, [1L, "p/", true, (long?)7]),
        ["request with escaped strings"] = () => Request(5, RpcMethods.Get, ["é <tag> & \"quoted\" \u2028 \u0001 😀"]),
        ["request with a string id"] = () => new JsonRpcRequest { RequestId = new RequestId("a-1"), Method = RpcMethods.Get, ArgumentsList = ["k"] },
        ["request with trace context"] = () => new JsonRpcRequest { RequestId = new RequestId(6), Method = RpcMethods.Get, ArgumentsList = ["k"], TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState = "a=b" },
        ["request without arguments"] = () => new JsonRpcRequest { RequestId = new RequestId(7), Method = "m" },
        ["request with an empty list"] = () => Request(8, "m", []),
        ["hello"] = () => Request(9, RpcMethods.Hello, [RpcMethods.ProtocolVersion, 1234, true]),
        ["notification by name"] = () => new JsonRpcRequest { Method = RpcMethods.Message, NamedArguments = MessageNotification.Arguments("{\"a\":[1,\"é\"]}"u8.ToArray()), NamedArgumentDeclaredTypes = MessageNotification.ArgumentTypes },
        ["notification by position"] = () => new JsonRpcRequest { Method = RpcMethods.Unsubscribe, ArgumentsList = [5L] },
        ["cancellation"] = () => new JsonRpcRequest { Method = "$/cancelRequest", NamedArguments = new Dictionary<string, object?> { ["id"] = new RequestId(3) } },
        ["version 1.0"] = () => new JsonRpcRequest { Version = "1.0", RequestId = new RequestId(10), Method = "m", ArgumentsList = [1] },
        ["hello result"] = () => new JsonRpcResult { RequestId = new RequestId(1), Result = new HelloResult { ProtocolVersion = 2, WorkerId = 3, MaxKeyLength = 4, MaxValueBytes = 5, Features = ["batch", "messages"] }, ResultDeclaredType = typeof(HelloResult) },
        ["entry result"] = () => new JsonRpcResult { RequestId = new RequestId(2), Result = new EntryMessage<RawJson> { Value = new RawJson("{\"x\":\"é\"}"u8.ToArray()), Version = 9 }, ResultDeclaredType = typeof(EntryMessage<RawJson>) },
        ["compare-and-set result"] = () => new JsonRpcResult { RequestId = new RequestId(3), Result = new CompareAndSetMessage { Succeeded = true, Version = 3 }, ResultDeclaredType = typeof(CompareAndSetMessage) },
        ["number result"] = () => new JsonRpcResult { RequestId = new RequestId(4), Result = 42L, ResultDeclaredType = typeof(long) },
        ["boolean result"] = () => new JsonRpcResult { RequestId = new RequestId(5), Result = false, ResultDeclaredType = typeof(bool) },
        ["null result"] = () => new JsonRpcResult { RequestId = new RequestId(6), Result = null, ResultDeclaredType = typeof(EntryMessage<RawJson>) },
        ["void result"] = () => new JsonRpcResult { RequestId = new RequestId(7) },
        ["raw result"] = () => new JsonRpcResult { RequestId = new RequestId(8), Result = new RawJson("[[0,1],[1,\"x\"]]"u8.ToArray()), ResultDeclaredType = typeof(RawJson) },
        ["error"] = () => new JsonRpcError { RequestId = new RequestId(1), Error = new JsonRpcError.ErrorDetail { Code = (JsonRpcErrorCode)RpcErrorCodes.InvalidArgument, Message = "The key is 'é'." } },
        ["error with data"] = () => new JsonRpcError { RequestId = new RequestId(2), Error = new JsonRpcError.ErrorDetail { Code = (JsonRpcErrorCode)RpcErrorCodes.LimitExceeded, Message = "Too large.", Data = Limit } },
        ["error without an id"] = () => new JsonRpcError { RequestId = RequestId.Null, Error = new JsonRpcError.ErrorDetail { Code = JsonRpcErrorCode.ParseError, Message = "Parse error." } },
    };

    public static TheoryData<string> Frames =>
    [
        """{"jsonrpc":"2.0","id":1,"method":"set","params":["k",[1,2],null,true]}""",
        """{"jsonrpc":"2.0","id":"s","method":"get","params":{"key":"k"}}""",
        """{"jsonrpc":"2.0","method":"unsubscribe","params":[5]}""",
        """{"jsonrpc":"2.0","id":2,"method":"m"}""",
        """{"jsonrpc":"2.0","id":null,"method":"m","params":[]}""",
        """{"id":3,"method":"m","params":[1]}""",
        """{"jsonrpc":"1.5","id":3,"method":"m","params":[1]}""",
        """{"jsonrpc":"2.0","id":4,"result":{"value":1,"version":2}}""",
        """{"jsonrpc":"2.0","id":5,"result":null}""",
        """{"jsonrpc":"2.0","id":6,"error":{"code":-32001,"message":"m","data":{"key":"k","limitName":"MaxValueBytes","limit":1,"actual":2}}}""",
        """{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"m"}}""",
        """{"jsonrpc":"2.0","method":"m","params":[1],"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","tracestate":"a=b"}""",
        // What both refuse, each with the same exception.
        """[1,2]""",
        "\"text\"",
        """{"jsonrpc":"2.0","id":1}""",
        """{"jsonrpc":"2.0","id":1,"method":"increment","params":"text"}""",
        """{"jsonrpc":"2.0","id":1,"method":"m","params":null}""",
        """{"jsonrpc":"2.0","id":1.5,"method":"m","params":[]}""",
        """{"jsonrpc":"2.0","id":true,"method":"m","params":[]}""",
        """{"jsonrpc":null,"id":1,"method":"m","params":[]}""",
        """{"jsonrpc":"2.0","id":1,"error":{"message":"no code"}}""",
        """{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}""",
        """{"jsonrpc":"2.0","id":1,"method":"m","params":[1,}""",
        """{"jsonrpc":"2.0","id":1,"method":"m","params":[1]} trailing""",
    ];

    [Theory]
    [MemberData(nameof(Messages))]
    public void Writes_WhatSystemTextJsonFormatterWrote(string name)
    {
        string expected = Write(new SystemTextJsonFormatter(), Written[name]());
        string actual = Write(new ProtocolFormatter(), Written[name]());

        Assert.Equal(expected, actual);
    }

    [Theory]
    [MemberData(nameof(Frames))]
    public void Reads_WhatSystemTextJsonFormatterRead_AndRefusesWhatItRefused(string frame)
    {
        var expected = Describe(new SystemTextJsonFormatter(), frame);
        var actual = Describe(new ProtocolFormatter(), frame);

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void WhatItWrites_ReadsBack_AsSystemTextJsonFormatterReadsIt()
    {
        foreach (var (name, make) in Written)
        {
            string written = Write(new ProtocolFormatter(), make());
            string ours = Describe(new ProtocolFormatter(), written);

            Assert.True(ours == Describe(new SystemTextJsonFormatter(), written), $"{name}: {ours}");
            Assert.DoesNotContain("Exception", ours, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Arguments_AreRead_ByPositionAndByName_IntoTheirParametersTypes()
    {
        var formatter = new ProtocolFormatter();
        var byPosition = (JsonRpcRequest)Read(formatter, """{"jsonrpc":"2.0","id":1,"method":"set","params":["k",{"a":1},1.5,true,null]}""");
        var byName = (JsonRpcRequest)Read(formatter, """{"jsonrpc":"2.0","id":2,"method":"set","params":{"key":"k","ttlMs":1.5}}""");

        Assert.Equal(5, byPosition.ArgumentCount);
        Assert.True(byPosition.TryGetArgumentByNameOrIndex("key", 0, typeof(string), out var key));
        Assert.Equal("k", key);
        Assert.True(byPosition.TryGetArgumentByNameOrIndex("value", 1, typeof(JsonElement), out var value));
        Assert.Equal("""{"a":1}""", ((JsonElement)value!).GetRawText());
        Assert.True(byPosition.TryGetArgumentByNameOrIndex("ttlMs", 2, typeof(double?), out var ttl));
        Assert.Equal(1.5, ttl);
        Assert.True(byPosition.TryGetArgumentByNameOrIndex("ephemeral", 3, typeof(bool), out var ephemeral));
        Assert.Equal(true, ephemeral);
        Assert.True(byPosition.TryGetArgumentByNameOrIndex("fromVersion", 4, typeof(long?), out var absent));
        Assert.Null(absent);
        Assert.False(byPosition.TryGetArgumentByNameOrIndex("more", 5, typeof(long), out _));

        Assert.Equal(["key", "ttlMs"], byName.ArgumentNames!);
        Assert.True(byName.TryGetArgumentByNameOrIndex("ttlMs", -1, typeof(double?), out ttl));
        Assert.Equal(1.5, ttl);
        Assert.False(byName.TryGetArgumentByNameOrIndex("ephemeral", -1, typeof(bool), out _));
    }

    [Fact]
    public void AnArgument_OfTheWrongShapeOrAnUnknownType_IsAnArgumentError()
    {
        // StreamJsonRpc answers both as invalid params (-32602).
        var request = (JsonRpcRequest)Read(new ProtocolFormatter(), """{"jsonrpc":"2.0","id":1,"method":"m","params":["text"]}""");

        Assert.Throws<RpcArgumentDeserializationException>(() => request.TryGetArgumentByNameOrIndex(null, 0, typeof(long), out _));
        Assert.Throws<RpcArgumentDeserializationException>(() => request.TryGetArgumentByNameOrIndex(null, 0, typeof(Uri), out _));
    }

    [Fact]
    public void Strings_AreRead_WithTheConnectionsConverter()
    {
        // The master reads keys as sent, so that one that is not valid UTF-16 reaches the store, which refuses it.
        var frame = """{"jsonrpc":"2.0","id":1,"method":"get","params":["\ud800"]}""";
        var verbatim = (JsonRpcRequest)Read(new ProtocolFormatter(new VerbatimStringConverter()), frame);
        var plain = (JsonRpcRequest)Read(new ProtocolFormatter(), frame);

        Assert.True(verbatim.TryGetArgumentByNameOrIndex("key", 0, typeof(string), out var key));
        Assert.Equal("\ud800", key);
        Assert.Throws<RpcArgumentDeserializationException>(() => plain.TryGetArgumentByNameOrIndex("key", 0, typeof(string), out _));
    }

    [Fact]
    public void AResult_IsRead_IntoTheTypeItIsExpectedAs()
    {
        var formatter = new ProtocolFormatter();
        var entry = (JsonRpcResult)Read(formatter, """{"jsonrpc":"2.0","id":1,"result":{"value":[1,2],"version":3}}""");
        var hello = (JsonRpcResult)Read(formatter, """{"jsonrpc":"2.0","id":2,"result":{"protocolVersion":2,"workerId":7,"maxKeyLength":1,"maxValueBytes":2,"features":["batch"]}}""");
        var wrong = (JsonRpcResult)Read(formatter, """{"jsonrpc":"2.0","id":3,"result":"text"}""");

        Assert.Equal("""{"value":[1,2],"version":3}""", entry.GetResult<JsonElement>().GetRawText());
        Assert.Equal(7, hello.GetResult<HelloResult>().WorkerId);
        Assert.Throws<JsonException>(() => wrong.GetResult<long>());
    }

    [Fact]
    public void AnErrorsData_IsRead_AsTheTypeAsked_OrKeptAsItsJson()
    {
        var formatter = new ProtocolFormatter();
        var frame = """{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"m","data":{"key":"k","limitName":"MaxValueBytes","limit":10,"actual":12}}}""";
        var error = (JsonRpcError)Read(formatter, frame);
        var other = (JsonRpcError)Read(formatter, frame);

        Assert.Equal(Limit, error.Error!.GetData<LimitErrorData>());
        Assert.Equal(JsonValueKind.Object, Assert.IsType<JsonElement>(other.Error!.GetData(typeof(CommonErrorData))).ValueKind);
    }

    [Fact]
    public void AValueOfATypeTheProtocolDoesNotKnow_IsNotWritten()
    {
        var request = Request(1, "m", [new Uri("http://example.com")]);

        var error = Assert.Throws<JsonException>(() => Write(new ProtocolFormatter(), request));
        Assert.IsType<NotSupportedException>(error.InnerException);
    }

    [Fact]
    public void AByteArrayValue_TravelsAsBase64_AndReadsBack()
    {
        // A value is the user's JSON, written with the caller's contract: a byte[] is a base64 string on the wire.
        byte[] blob = [0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0xFF];
        var value = PooledJson.Serialize(blob, FormatterTestJson.Default.ByteArray);
        string written = Write(new ProtocolFormatter(), Request(1, RpcMethods.Set, ["blob", value]));
        var read = (JsonRpcRequest)Read(new ProtocolFormatter(), written);

        Assert.Equal("""{"jsonrpc":"2.0","id":1,"method":"set","params":["blob","3q2+7wD/"]}""", written);
        Assert.True(read.TryGetArgumentByNameOrIndex("value", 1, typeof(JsonElement), out var element));
        Assert.Equal(blob, ((JsonElement)element!).Deserialize(FormatterTestJson.Default.ByteArray));
    }

    private static JsonRpcRequest Request(long id, string method, object?[] arguments) =>
        new() { RequestId = new RequestId(id), Method = method, ArgumentsList = arguments };

    private static string Write(IJsonRpcMessageFormatter formatter, JsonRpcMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        formatter.Serialize(buffer, message);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static JsonRpcMessage Read(IJsonRpcMessageFormatter formatter, string frame) =>
        formatter.Deserialize(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(frame)));

    /// <summary>What a formatter made of a frame, in words, or the exception it threw.</summary>
    private static string Describe(IJsonRpcMessageFormatter formatter, string frame)
    {
        try
        {
            return Read(formatter, frame) switch
            {
                JsonRpcRequest r => $"request {r.Version} {r.RequestId} {r.Method} {r.ArgumentCount} [{string.Join(",", r.ArgumentNames ?? [])}] {r.TraceParent} {r.TraceState}",
                JsonRpcResult r => $"result {r.Version} {r.RequestId} {Arguments(r)}",
                JsonRpcError e => $"error {e.Version} {e.RequestId} {e.Error?.Code} {e.Error?.Message}",
                var other => other.GetType().Name,
            };
        }
        catch (Exception ex)
        {
            return ex.GetType().Name;
        }

        static string Arguments(JsonRpcResult result)
        {
            try
            {
                return result.GetResult<JsonElement>().GetRawText();
            }
            catch (Exception ex)
            {
                return ex.GetType().Name;
            }
        }
    }
}

/// <summary>A user's contracts, as an application generates them.</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(byte[]))]
internal sealed partial class FormatterTestJson : System.Text.Json.Serialization.JsonSerializerContext;
