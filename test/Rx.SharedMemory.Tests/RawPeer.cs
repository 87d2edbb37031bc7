using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// One end of a connection read and written as frames by hand (<c>Content-Length</c> headers, JSON bodies), so that a
/// test sees the exact JSON the other end writes and sends it exact JSON.
/// </summary>
internal sealed class RawPeer(Stream stream)
{
    private static readonly byte[] EndOfHeaders = "\r\n\r\n"u8.ToArray();
    private long nextId;

    /// <summary>
    /// Connects a worker to a raw master that answers its <c>hello</c> (worker 1, the default limits) listing
    /// <paramref name="features"/>, a JSON array, or none when null.
    /// </summary>
    /// <returns>The connected worker (the caller disposes it) and the master's end.</returns>
    public static async Task<(SharedMemoryWorker Worker, RawPeer Master)> ConnectWorkerAsync(string? features, CancellationToken cancellationToken)
    {
        var (workerEnd, masterEnd) = Nerdbank.Streams.FullDuplexStream.CreatePair();
        var master = new RawPeer(masterEnd);
        var connecting = SharedMemoryWorker.ConnectAsync(workerEnd, workerEnd, loggerFactory: null, cancellationToken);
        string listed = features is null ? string.Empty : $",\"features\":{features}";
        await master.AnswerAsync(new("hello", PinnedRequests.Hello, $"{{\"protocolVersion\":1,\"workerId\":1,\"maxKeyLength\":1024,\"maxValueBytes\":1048576{listed}}}"), cancellationToken);
        return (await connecting, master);
    }

    /// <summary>Reads the next message.</summary>
    public async Task<JsonElement> ReadAsync(CancellationToken cancellationToken)
    {
        var header = new List<byte>();
        var one = new byte[1];
        while (header.Count < EndOfHeaders.Length || !header[^EndOfHeaders.Length..].SequenceEqual(EndOfHeaders))
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
            {
                throw new EndOfStreamException("The other end closed the connection.");
            }

            header.Add(one[0]);
        }

        const string LengthName = "Content-Length:";
        string lengthLine = Encoding.ASCII.GetString([.. header]).Split("\r\n").Single(line => line.StartsWith(LengthName, StringComparison.Ordinal));
        var body = new byte[int.Parse(lengthLine[LengthName.Length..].Trim(), CultureInfo.InvariantCulture)];
        await stream.ReadExactlyAsync(body, cancellationToken);
        using var message = JsonDocument.Parse(body);
        return message.RootElement.Clone();
    }

    /// <summary>Writes one message.</summary>
    public async Task WriteAsync(string json, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(RawFrameTests.Frame(json), cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    /// <summary>As a master: reads the next message, checks that it is <paramref name="exchange"/>'s request (or notification) exactly, and answers a request with its result.</summary>
    public async Task AnswerAsync(PinnedRequests.Exchange exchange, CancellationToken cancellationToken)
    {
        var message = await this.ReadAsync(cancellationToken);
        Assert.Equal(exchange.Method, message.GetProperty("method").GetString());
        Assert.Equal(exchange.Params, message.GetProperty("params").GetRawText());
        Assert.True(message.TryGetProperty("id", out var id) == exchange.IsRequest, $"{exchange.Method} came as a {(exchange.IsRequest ? "notification" : "request")}.");
        if (exchange.IsRequest)
        {
            await this.WriteAsync($$"""{"jsonrpc":"2.0","id":{{id.GetRawText()}},"result":{{exchange.Result}}}""", cancellationToken);
        }
    }

    /// <summary>As a worker: sends a request with exactly these parameters and returns the answer (<c>result</c> or <c>error</c>).</summary>
    public async Task<JsonElement> CallAsync(string method, string parameters, CancellationToken cancellationToken)
    {
        long id = ++this.nextId;
        await this.WriteAsync($$"""{"jsonrpc":"2.0","id":{{id}},"method":{{JsonSerializer.Serialize(method)}},"params":{{parameters}}}""", cancellationToken);
        var answer = await this.ReadAsync(cancellationToken);
        Assert.Equal(id, answer.GetProperty("id").GetInt64());
        return answer;
    }

    /// <summary>As a worker: sends a notification with exactly these parameters.</summary>
    public Task NotifyAsync(string method, string parameters, CancellationToken cancellationToken) =>
        this.WriteAsync($$"""{"jsonrpc":"2.0","method":{{JsonSerializer.Serialize(method)}},"params":{{parameters}}}""", cancellationToken);
}
