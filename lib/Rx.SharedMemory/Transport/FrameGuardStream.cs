using System.Buffers.Text;
using System.Text;
using System.Text.Unicode;
using Rx.SharedMemory.Protocol;

namespace Rx.SharedMemory.Transport;

/// <summary>
/// Follows the <c>Content-Length</c> framing of the bytes read through it and fails the connection on the first frame
/// that breaks a rule, before the JSON-RPC handler buffers any of that frame: a body over the limit, a header section
/// that is too long or malformed, or a body that is not UTF-8. The master wraps each worker's incoming pipe in one, so
/// that a worker cannot make the master allocate without bound, nor get bytes past it that the handler would read
/// differently.
/// </summary>
/// <remarks>
/// The rules (docs/protocol.md, Framing) are a strict subset of what StreamJsonRpc's
/// <c>HeaderDelimitedMessageHandler</c> accepts, so that the two always agree on where a frame ends: every header line
/// ends with <c>\r\n</c> and holds no other <c>\r</c> or <c>\n</c>; it is <c>name: value</c> with a colon; an empty
/// line ends the section, which is at most <see cref="ProtocolLimits.MaxHeaderBytes"/> bytes; <c>Content-Length</c> comes exactly
/// once, spelt so (the handler matches names case-sensitively), as decimal digits; <c>Content-Type</c>, if present,
/// comes once and says UTF-8; other headers are ignored. A read that brings a broken frame returns the bytes before
/// it, and the next read fails: the frames before the broken one are still answered.
/// </remarks>
internal sealed class FrameGuardStream(Stream inner, long maxBodyBytes) : Stream
{
    /// <summary>The most bytes a frame's header section may have, its final empty line included.</summary>

    private static readonly byte[] ContentLength = "Content-Length"u8.ToArray();
    private static readonly byte[] ContentType = "Content-Type"u8.ToArray();
    private readonly long maxBody = Math.Min(maxBodyBytes, int.MaxValue);

    // Used only by the thread that reads (one read at a time, as a Stream allows).
    private readonly byte[] line = new byte[ProtocolLimits.MaxHeaderBytes];
    private readonly byte[] pendingUtf8 = new byte[4];
    private int lineLength;
    private int headerBytes;
    private long? contentLength;
    private bool contentTypeSeen;
    private long bodyRemaining;
    private int pendingUtf8Length;
    private Exception? failure;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        this.ThrowIfFailed();
        int read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return this.Pass(buffer.Span[..read]);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        this.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => this.Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        this.ThrowIfFailed();
        int read = inner.Read(buffer);
        return this.Pass(buffer[..read]);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private void ThrowIfFailed()
    {
        if (this.failure is { } failed)
        {
            throw new InvalidDataException(failed.Message, failed);
        }
    }

    /// <summary>How many of the bytes just read may go on: all of them, or those before the first broken frame (which fails the next read).</summary>
    private int Pass(ReadOnlySpan<byte> data)
    {
        int passed = 0;
        try
        {
            while (passed < data.Length)
            {
                passed += this.bodyRemaining > 0 ? this.Body(data[passed..]) : this.Header(data[passed..]);
            }

            return passed;
        }
        catch (InvalidDataException ex)
        {
            this.failure = ex;
            if (passed == 0)
            {
                // Nothing to hand on first: a read of 0 bytes would mean end of file.
                throw;
            }

            return passed;
        }
    }

    /// <summary>Checks the body bytes at the start of <paramref name="data"/> (valid UTF-8, across reads); returns how many it took.</summary>
    private int Body(ReadOnlySpan<byte> data)
    {
        var body = data[..(int)Math.Min(this.bodyRemaining, data.Length)];
        this.bodyRemaining -= body.Length;
        var rest = body;

        // A character split by the last read: completed from this one.
        while (this.pendingUtf8Length > 0 && !rest.IsEmpty)
        {
            this.pendingUtf8[this.pendingUtf8Length++] = rest[0];
            rest = rest[1..];
            if (this.pendingUtf8Length == SequenceLength(this.pendingUtf8[0]))
            {
                this.CheckUtf8(this.pendingUtf8.AsSpan(0, this.pendingUtf8Length));
                this.pendingUtf8Length = 0;
            }
        }

        // A character this read splits waits for the next one.
        int tail = IncompleteTail(rest);
        this.CheckUtf8(rest[..^tail]);
        rest[^tail..].CopyTo(this.pendingUtf8);
        this.pendingUtf8Length += tail;
        if (this.bodyRemaining == 0 && this.pendingUtf8Length > 0)
        {
            throw new InvalidDataException("A message body ends in the middle of a UTF-8 character.");
        }

        return body.Length;
    }

    private void CheckUtf8(ReadOnlySpan<byte> bytes)
    {
        if (!Utf8.IsValid(bytes))
        {
            throw new InvalidDataException("A message body is not valid UTF-8.");
        }
    }

    /// <summary>The expected length of the UTF-8 sequence that <paramref name="lead"/> starts; 1 for a byte that cannot start one (the check then fails on it).</summary>
    private static int SequenceLength(byte lead) => lead switch
    {
        >= 0xC2 and <= 0xDF => 2,
        >= 0xE0 and <= 0xEF => 3,
        >= 0xF0 and <= 0xF4 => 4,
        _ => 1,
    };

    /// <summary>How many bytes at the end of <paramref name="bytes"/> begin a character that continues past it.</summary>
    private static int IncompleteTail(ReadOnlySpan<byte> bytes)
    {
        for (int back = 1; back <= Math.Min(3, bytes.Length); back++)
        {
            byte b = bytes[^back];
            if ((b & 0xC0) != 0x80)
            {
                // The last lead byte: the sequence it starts is cut when it needs more than what follows it.
                return SequenceLength(b) > back ? back : 0;
            }
        }

        return 0;
    }

    /// <summary>
    /// Reads a <c>Content-Length</c> value, spaces and tabs around it already trimmed: decimal digits only, leading
    /// zeros allowed (as many as the header section has room for), at most 10 digits after them. The guard and the
    /// connection's handler (<c>Rpc/FramedMessageHandler</c>) read it with this one rule.
    /// </summary>
    internal static bool TryParseContentLength(ReadOnlySpan<byte> value, out long length)
    {
        length = 0;
        var digits = value.TrimStart((byte)'0');
        return !value.IsEmpty && digits.Length <= 10 && value.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0
            && (digits.IsEmpty || (Utf8Parser.TryParse(digits, out length, out int consumed) && consumed == digits.Length));
    }

    /// <summary>Takes header bytes up to the end of the current line at most; returns how many it took.</summary>
    private int Header(ReadOnlySpan<byte> data)
    {
        int end = data.IndexOf((byte)'\n');
        var part = end < 0 ? data : data[..(end + 1)];
        this.headerBytes += part.Length;
        if (this.headerBytes > ProtocolLimits.MaxHeaderBytes)
        {
            throw new InvalidDataException($"A message's header section is longer than {ProtocolLimits.MaxHeaderBytes} bytes.");
        }

        part.CopyTo(this.line.AsSpan(this.lineLength));
        this.lineLength += part.Length;
        if (end >= 0)
        {
            this.EndLine(this.line.AsSpan(0, this.lineLength));
            this.lineLength = 0;
        }

        return part.Length;
    }

    /// <summary>Checks one header line, <c>\n</c> included; the empty line ends the section and starts the body.</summary>
    private void EndLine(ReadOnlySpan<byte> text)
    {
        if (text.Length < 2 || text[^2] != (byte)'\r' || text[..^2].IndexOfAny((byte)'\r', (byte)'\n') >= 0)
        {
            throw new InvalidDataException($"A message header line does not end with \\r\\n alone: '{Show(text)}'.");
        }

        text = text[..^2];
        if (text.IsEmpty)
        {
            long length = this.contentLength ?? throw new InvalidDataException("A message has no Content-Length header.");
            this.contentLength = null;
            this.contentTypeSeen = false;
            this.headerBytes = 0;
            this.bodyRemaining = length;
            if (length == 0)
            {
                throw new InvalidDataException("A message has an empty body (Content-Length: 0).");
            }

            return;
        }

        int colon = text.IndexOf((byte)':');
        if (colon < 0)
        {
            throw new InvalidDataException($"A message header line has no colon: '{Show(text)}'.");
        }

        var name = text[..colon];
        var value = text[(colon + 1)..].Trim(" \t"u8);
        if (name.SequenceEqual(ContentLength))
        {
            if (this.contentLength is not null)
            {
                throw new InvalidDataException("A message has two Content-Length headers.");
            }

            if (!TryParseContentLength(value, out long length))
            {
                throw new InvalidDataException($"A message has an invalid Content-Length header: '{Show(text)}'.");
            }

            if (length > this.maxBody)
            {
                throw new InvalidDataException($"A message of {length} bytes exceeds the limit of {this.maxBody} bytes (MaxValueBytes plus room for the key and the envelope).");
            }

            this.contentLength = length;
        }
        else if (name.SequenceEqual(ContentType))
        {
            if (this.contentTypeSeen)
            {
                throw new InvalidDataException("A message has two Content-Type headers.");
            }

            this.contentTypeSeen = true;
            if (!Ascii.EqualsIgnoreCase(value, "application/vscode-jsonrpc; charset=utf-8"u8) && !Ascii.EqualsIgnoreCase(value, "application/vscode-jsonrpc; charset=utf8"u8))
            {
                throw new InvalidDataException($"A message's Content-Type is not 'application/vscode-jsonrpc; charset=utf-8': '{Show(text)}'.");
            }
        }
        else if (Ascii.EqualsIgnoreCase(name, ContentLength) || Ascii.EqualsIgnoreCase(name, ContentType))
        {
            // The handler would not see it, and read the frame differently.
            throw new InvalidDataException($"A message header is not spelt 'Content-Length' or 'Content-Type' (names are case-sensitive): '{Show(text)}'.");
        }
    }

    private static string Show(ReadOnlySpan<byte> text)
    {
        var shown = Encoding.ASCII.GetString(text[..Math.Min(text.Length, 80)]).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
        return text.Length > 80 ? shown + "…" : shown;
    }
}
