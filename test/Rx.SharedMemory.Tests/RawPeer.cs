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
