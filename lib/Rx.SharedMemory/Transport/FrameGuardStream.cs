using System.Buffers.Text;
using System.Text;

namespace Rx.SharedMemory.Transport;

/// <summary>
/// Follows the <c>Content-Length</c> framing of the bytes read through it and fails the read that brings a header
/// announcing a body over the limit, or a header section that is too long or malformed, before the JSON-RPC handler
/// buffers any of that frame. The master wraps each worker's incoming pipe in one, so that a worker cannot make the
/// master allocate without bound.
/// </summary>
internal sealed class FrameGuardStream(Stream inner, long maxBodyBytes) : Stream
{
    private const int MaxHeaderBytes = 4096;
    private static readonly byte[] ContentLength = "content-length:"u8.ToArray();
    private readonly byte[] header = new byte[MaxHeaderBytes];
    private int headerLength;
    private long bodyRemaining;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        this.Inspect(buffer.Span[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        this.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => this.Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int read = inner.Read(buffer);
        this.Inspect(buffer[..read]);
        return read;
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

    private void Inspect(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (this.bodyRemaining > 0)
            {
                int body = (int)Math.Min(this.bodyRemaining, data.Length);
                this.bodyRemaining -= body;
                data = data[body..];
                continue;
            }

            if (this.headerLength == MaxHeaderBytes)
            {
                throw new InvalidDataException($"A message header section is longer than {MaxHeaderBytes} bytes.");
            }

            this.header[this.headerLength++] = data[0];
            data = data[1..];
            if (this.headerLength >= 4 && this.header.AsSpan(this.headerLength - 4, 4).SequenceEqual("\r\n\r\n"u8))
            {
                this.bodyRemaining = this.ParseContentLength();
                this.headerLength = 0;
            }
        }
    }

    private long ParseContentLength()
    {
        foreach (var range in this.header.AsSpan(0, this.headerLength - 4).Split("\r\n"u8))
        {
            var line = this.header.AsSpan(0, this.headerLength - 4)[range];
            if (line.Length > ContentLength.Length && Ascii.EqualsIgnoreCase(line[..ContentLength.Length], ContentLength))
            {
                var digits = line[ContentLength.Length..].Trim((byte)' ');
                if (!Utf8Parser.TryParse(digits, out long length, out int consumed) || consumed != digits.Length || length < 0)
                {
                    throw new InvalidDataException($"A message has an invalid Content-Length header: '{Encoding.ASCII.GetString(line)}'.");
                }

                if (length > maxBodyBytes)
                {
                    throw new InvalidDataException($"A message of {length} bytes exceeds the limit of {maxBodyBytes} bytes (MaxValueBytes plus room for the key and the envelope).");
                }

                return length;
            }
        }

        throw new InvalidDataException("A message has no Content-Length header.");
    }
}
