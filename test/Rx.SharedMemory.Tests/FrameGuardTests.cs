using System.Text;
using Rx.SharedMemory.Rpc;
using Rx.SharedMemory.Transport;
using StreamJsonRpc;
using StreamJsonRpc.Protocol;

namespace Rx.SharedMemory.Tests;

/// <summary>The master's frame parser: its header rules, and that nothing it lets through is read differently by the connection's handler.</summary>
public sealed class FrameGuardTests : TestBase
{
    private const long MaxBody = 100_000;

    [Theory]
    [InlineData("Content-Length: {0}\r\nContent-Length: {0}\r\n\r\n", "two Content-Length")]
    [InlineData("Content-Length: 3\r\nContent-Length: {0}\r\n\r\n", "two Content-Length")]
    [InlineData("content-length: {0}\r\n\r\n", "case-sensitive")]
    [InlineData("Content-Length: {0}\n\n", "\\r\\n")]
    [InlineData("Content-Length: {0}\r\r\n\r\n", "\\r\\n")]
    [InlineData("Content-Length: {0}\r\nBroken\r\n\r\n", "no colon")]
    [InlineData("Content-Length: -{0}\r\n\r\n", "invalid Content-Length")]
    [InlineData("Content-Length: +{0}\r\n\r\n", "invalid Content-Length")]
    [InlineData("Content-Length: {0}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-16\r\n\r\n", "Content-Type")]
    [InlineData("X-Padding: {1}\r\nContent-Length: {0}\r\n\r\n", "longer than 4096")]
    [InlineData("\r\n", "no Content-Length")]
    [InlineData("Content-Length: 0\r\n\r\n", "empty body")]
    [InlineData("Content-Length: 100001\r\n\r\n", "exceeds the limit")]
    public async Task AFrameThatBreaksAHeaderRule_FailsTheConnection_AfterTheFramesBeforeIt(string header, string reason)
    {
        var body = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","method":"m","id":2}""");
        var bad = Encoding.ASCII.GetBytes(string.Format(System.Globalization.CultureInfo.InvariantCulture, header, body.Length, new string('x', 4100)));
        byte[] stream = [.. Frame(1), .. bad, .. body, .. Frame(3)];

        var (ids, error) = await ReadAllAsync(stream, chunk: 7);

        Assert.Equal([1L], ids);
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains(reason, error!.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Content-Length: {0}\r\nX-Other: anything: at all\r\n\r\n")]
    [InlineData("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: {0}\r\n\r\n")]
    [InlineData("Content-Length:\t000{0} \r\n\r\n")]
    [InlineData("Content-Length: 0000000000000{0}\r\n\r\n")]
    public async Task HeadersWithinTheRules_AreReadAsTheyWereMeant(string header)
    {
        var body = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","method":"m","id":2}""");
        byte[] stream = [.. Frame(1), .. Encoding.ASCII.GetBytes(string.Format(System.Globalization.CultureInfo.InvariantCulture, header, body.Length)), .. body, .. Frame(3)];

        var (ids, error) = await ReadAllAsync(stream, chunk: 5);

        Assert.Null(error);
        Assert.Equal([1L, 2L, 3L], ids);
    }

    [Fact]
    public async Task ABodyThatIsNotUtf8_FailsTheConnection_AndCharactersSplitAcrossReadsPass()
    {
        byte[] good = [.. Frame(1, "é€😀"), .. Frame(2, "ascii")];
        for (int chunk = 1; chunk <= 9; chunk++)
        {
            Assert.Equal([1L, 2L], (await ReadAllAsync(good, chunk)).Ids);
        }

        foreach (var invalid in new byte[][] { [0xFF], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF0, 0x9F, 0x98] })
        {
            var body = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","method":"m","params":["x"],"id":2}""").ToList();
            body.InsertRange(body.IndexOf((byte)'x'), invalid);
            byte[] stream = [.. Frame(1), .. Encoding.ASCII.GetBytes($"Content-Length: {body.Count}\r\n\r\n"), .. body, .. Frame(3)];

            var (ids, error) = await ReadAllAsync(stream, chunk: 3);

            Assert.Equal([1L], ids);
            Assert.Contains("not valid UTF-8", error?.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Random header mutations, read in random chunks: whatever the guard lets through, the handler reads as the same
    /// frames (the ids in order), and it stops only where the guard refused a frame.
    /// </summary>
    [Fact]
    public async Task WhatTheGuardPasses_TheHandlerReadsTheSameWay_UnderRandomHeaderMutations()
    {
        int seed = Random.Shared.Next();
        var random = new Random(seed);
        string[] variants =
        [
            "Content-Length: {0}\r\n\r\n", "Content-Length: {0}\r\nContent-Length: {0}\r\n\r\n", "Content-Length: {1}\r\nContent-Length: {0}\r\n\r\n",
            "Content-Length: {0}\r\nContent-Length: {1}\r\n\r\n", "content-length: {0}\r\n\r\n", "Content-length: {0}\r\n\r\n", "Content-Length:{0}\r\n\r\n",
            "Content-Length: \t{0}\t\r\n\r\n", "Content-Length: 0{0}\r\n\r\n", "Content-Length: {0}\n\r\n", "Content-Length: {0}\r\n\n",
            "Content-Length: {0}\r\r\n\r\n", "X: y\r\nContent-Length: {0}\r\n\r\n", "X\r\nContent-Length: {0}\r\n\r\n", ": \r\nContent-Length: {0}\r\n\r\n",
            "Content-Length: {0}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n", "Content-Length: {0}\r\nContent-Type: text/plain; charset=ascii\r\n\r\n",
            "Content-Length: {0}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n",
            "Content-Length : {0}\r\n\r\n", " Content-Length: {0}\r\n\r\n", "Content-Length: {0} 1\r\n\r\n", "Content-Length: {0}\u00a0\r\n\r\n",
            "Content-Length: 99999999999\r\n\r\n", "\r\n",
        ];
        int streams = 0;
        for (; streams < 3000; streams++)
        {
            var expected = new List<long>();
            var bytes = new List<byte>();
            int frames = random.Next(1, 12);
            for (long id = 1; id <= frames; id++)
            {
                var body = Encoding.UTF8.GetBytes($$"""{"jsonrpc":"2.0","method":"m","params":["{{new string('é', random.Next(0, 40))}}"],"id":{{id}}}""");
                string header = random.Next(3) == 0 ? variants[random.Next(variants.Length)] : variants[0];
                bytes.AddRange(Encoding.UTF8.GetBytes(string.Format(System.Globalization.CultureInfo.InvariantCulture, header, body.Length, body.Length - random.Next(1, 10))));
                bytes.AddRange(body);
                expected.Add(id);
            }

            var (ids, error) = await ReadAllAsync([.. bytes], chunk: random.Next(1, 64));

            // A frame the guard passed is read whole and as sent; the first one it refuses ends the reading.
            Assert.True(expected.Take(ids.Count).SequenceEqual(ids), $"Seed {seed}, stream {streams}: read [{string.Join(',', ids)}] of [{string.Join(',', expected)}]");
            Assert.True(error is null ? ids.Count == frames : error is InvalidDataException, $"Seed {seed}, stream {streams}: {error}");
        }

        Assert.Equal(3000, streams);
    }

    /// <summary>
    /// A worker may write a frame in any pieces, and each read of the pipe is a piece of the master's buffer: a header
    /// line's <c>\r\n</c> split between reads once made StreamJsonRpc's header reader refuse a valid frame.
    /// </summary>
    [Fact]
    public async Task AFrameSplitBetweenReadsAtAnyTwoPoints_IsReadWhole()
    {
        var body = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","method":"m","params":["x"],"id":1}""");
        byte[] frame = [.. Encoding.ASCII.GetBytes($"X-Note: 1\r\nContent-Length: {body.Length}\r\n\r\n"), .. body];
        byte[] stream = [.. frame, .. Frame(2)];
        int headerEnd = frame.Length - body.Length;
        int splits = 0;
        for (int first = 1; first <= headerEnd + 2; first++)
        {
            for (int second = first + 1; second <= headerEnd + 3; second++)
            {
                var (ids, error) = await ReadAllAsync(new PiecesStream(stream, first, second));

                Assert.True(error is null && ids.SequenceEqual([1L, 2L]), $"Split at {first} and {second}: read [{string.Join(',', ids)}], {error}");
                splits++;
            }
        }

        Assert.Equal((headerEnd + 2) * (headerEnd + 3) / 2, splits);
    }

    private static byte[] Frame(long id, string text = "") =>
        RawFrameTests.Frame($$"""{"jsonrpc":"2.0","method":"m","params":["{{text}}"],"id":{{id}}}""");

    /// <summary>
    /// Reads every message as the master does, through a guard, its reader thread (each read a segment of its own) and
    /// the connection's handler, the stream served <paramref name="chunk"/> bytes at a time.
    /// </summary>
    private static Task<(List<long> Ids, Exception? Error)> ReadAllAsync(byte[] bytes, int chunk) => ReadAllAsync(new ChunkedStream(bytes, chunk));

    private static async Task<(List<long> Ids, Exception? Error)> ReadAllAsync(Stream source)
    {
        var ids = new List<long>();
        using var guard = new FrameGuardStream(source, MaxBody);
        var formatter = new SystemTextJsonFormatter();
        var handler = new FramedMessageHandler(null, ReaderThread.Start(guard, "frame-guard-test"), formatter);
        try
        {
            while (await handler.ReadAsync(CancellationToken.None) is JsonRpcRequest request)
            {
                ids.Add(request.RequestId.Number ?? -1);

                // What JsonRpc does once it has dispatched a message: the handler then moves past its body.
                ((StreamJsonRpc.Reflection.IJsonRpcMessageBufferManager)handler).DeserializationComplete(request);
            }

            return (ids, null);
        }
        catch (Exception ex)
        {
            return (ids, ex is AggregateException { InnerException: { } inner } ? inner : ex);
        }
        finally
        {
            await handler.DisposeAsync();
        }
    }

    /// <summary>A stream of bytes served at most <paramref name="chunk"/> at a time, as a pipe may.</summary>
    private sealed class ChunkedStream(byte[] bytes, int chunk) : MemoryStream(bytes)
    {
        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, chunk)]);

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            base.ReadAsync(buffer, offset, Math.Min(count, chunk), cancellationToken);
    }

    /// <summary>A stream of bytes served in three pieces, cut at the two offsets given, one piece a read.</summary>
    private sealed class PiecesStream(byte[] bytes, int first, int second) : MemoryStream(bytes)
    {
        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, this.PieceLeft())]);

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, this.PieceLeft()));

        private int PieceLeft() => (int)(this.Position < first ? first - this.Position : this.Position < second ? second - this.Position : this.Length - this.Position);
    }
}
