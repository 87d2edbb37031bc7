using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Transport;
using StreamJsonRpc;

namespace Rx.SharedMemory.Rpc;

/// <summary>
/// <c>Content-Length</c> framing (docs/protocol.md, Framing) with a header reader of the protocol's own. StreamJsonRpc's
/// <see cref="HeaderDelimitedMessageHandler"/> writes the frames; its reader misreads a header line whose <c>\r\n</c>
/// is split between two reads of the pipe (a peer that writes a frame in small pieces), and then refuses a valid
/// frame, which ends the connection. This reader looks for the section's end over however many pieces it came in.
/// </summary>
/// <remarks>
/// On the master, <c>Transport/FrameGuardStream</c> has already checked every framing rule, so that this reader only
/// finds where the section ends and the <c>Content-Length</c> value. The master writes nothing but
/// <c>Content-Length</c>, so a worker's reader ignores every other header too; the body is UTF-8, the only encoding
/// of the protocol.
/// </remarks>
internal class FramedMessageHandler(PipeWriter? writer, ReaderThread reading, IJsonRpcMessageFormatter formatter)
    : HeaderDelimitedMessageHandler(writer, reading.Reader, formatter)
{
    protected override async ValueTask<StreamJsonRpc.Protocol.JsonRpcMessage?> ReadCoreAsync(CancellationToken cancellationToken)
    {
        var pipe = this.Reader ?? throw new InvalidOperationException("This handler has no reader.");
        int length;
        while (true)
        {
            var read = await pipe.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = read.Buffer;
            if (TryReadHeaderSection(buffer, out var afterSection, out length))
            {
                pipe.AdvanceTo(afterSection);
                break;
            }

            if (buffer.Length > ProtocolLimits.MaxHeaderBytes)
            {
                throw HeaderSectionTooLong();
            }

            if (read.IsCompleted)
            {
                // Every frame before the end has been read: now is the time to tell why it came, if a read failed.
                pipe.AdvanceTo(buffer.End);
                this.ThrowIfReadFailed();
                return buffer.IsEmpty ? null : throw new EndOfStreamException("The stream ended inside a message's header section.");
            }

            pipe.AdvanceTo(buffer.Start, buffer.End);
        }

        ReadResult whole;
        try
        {
            whole = await this.ReadAtLeastAsync(length, allowEmpty: false, cancellationToken).ConfigureAwait(false);
        }
        catch (EndOfStreamException)
        {
            this.ThrowIfReadFailed();
            throw;
        }

        var body = whole.Buffer.Slice(0, length);
        try
        {
            return this.Formatter.Deserialize(body);
        }
        finally
        {
            pipe.AdvanceTo(body.End);
        }
    }

    private static BadRpcHeaderException HeaderSectionTooLong() => new($"A message's header section is longer than {ProtocolLimits.MaxHeaderBytes} bytes.");

    private void ThrowIfReadFailed()
    {
        if (reading.Failure is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>Finds the end of the header section that starts <paramref name="buffer"/>, and its <c>Content-Length</c>.</summary>
    /// <returns>False when the section's empty line has not arrived yet.</returns>
    internal static bool TryReadHeaderSection(ReadOnlySequence<byte> buffer, out SequencePosition afterSection, out int contentLength)
    {
        contentLength = 0;
        afterSection = buffer.Start;
        var section = new SequenceReader<byte>(buffer);
        long? length = null;
        Span<byte> scratch = stackalloc byte[ProtocolLimits.MaxHeaderBytes];
        while (section.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8, advancePastDelimiter: true))
        {
            if (line.IsEmpty)
            {
                afterSection = section.Position;
                contentLength = length is long found and > 0 and <= int.MaxValue
                    ? (int)found
                    : throw new BadRpcHeaderException(length is null ? "A message has no Content-Length header." : $"A message has an invalid Content-Length: {length}.");
                return true;
            }

            if (line.Length > ProtocolLimits.MaxHeaderBytes)
            {
                throw HeaderSectionTooLong(); // and too long for the scratch copy
            }

            ReadOnlySpan<byte> text = line.IsSingleSegment ? line.FirstSpan : scratch[..(int)line.Length];
            if (!line.IsSingleSegment)
            {
                line.CopyTo(scratch);
            }

            int colon = text.IndexOf((byte)':');
            if (colon > 0 && text[..colon].SequenceEqual("Content-Length"u8))
            {
                length = FrameGuardStream.TryParseContentLength(text[(colon + 1)..].Trim(" \t"u8), out long parsed)
                    ? parsed
                    : throw new BadRpcHeaderException("A message has an invalid Content-Length header.");
            }
        }

        return false;
    }
}
