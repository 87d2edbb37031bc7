using System.IO.Pipelines;

namespace Rx.SharedMemory.Transport;

/// <summary>
/// Reads a stream on a thread of its own with blocking reads, and hands the bytes to a <see cref="PipeReader"/> whose
/// reader runs inline on that thread. A request is then read, parsed and (on the master) answered on the thread the
/// kernel woke, with no hop through the I/O event loop and the thread pool: on a two-core machine each such hop costs
/// tens of microseconds, several times the pipe's own round trip.
/// </summary>
/// <remarks>
/// The thread ends at end of file or when the stream fails, which is how a pipe's life ends here: a connection is
/// over when the peer's process exits or closes its end. It is a background thread, so it never holds a process open.
/// A failed read completes the pipe as end of file does, and leaves its exception in <see cref="Failure"/>: a pipe
/// completed with an exception throws it at the next read even while bytes read before it wait, and those hold the
/// frames before a broken one, which are still to be answered. The thread closes the stream when it ends: .NET closes
/// a pipe's end only once a read under way on it returns, so a close from another thread would wait with it (spinning),
/// and a read returns only when every writer has closed the pipe, which a process the peer started with its
/// descriptors may not do for as long as it lives.
/// </remarks>
internal sealed class ReaderThread
{
    private const int ReadSize = 64 * 1024;

    private volatile Exception? failure;

    private ReaderThread(PipeReader reader) => this.Reader = reader;

    /// <summary>Gets what the stream's bytes are read from.</summary>
    public PipeReader Reader { get; }

    /// <summary>Gets why the reading ended when a read failed (null at end of file): set before <see cref="Reader"/> completes.</summary>
    public Exception? Failure => this.failure;

    public static ReaderThread Start(Stream stream, string name)
    {
        var pipe = new Pipe(new PipeOptions(
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 4 * ReadSize,
            resumeWriterThreshold: 2 * ReadSize,
            useSynchronizationContext: false));
        var reading = new ReaderThread(pipe.Reader);
        var thread = new Thread(() => reading.Pump(stream, pipe.Writer)) { IsBackground = true, Name = name };
        thread.UnsafeStart(); // it serves the connection, not the context of whoever opened it
        return reading;
    }

    private void Pump(Stream stream, PipeWriter writer)
    {
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(ReadSize);
                int read = stream.Read(memory.Span);
                if (read == 0)
                {
                    break;
                }

                writer.Advance(read);

                // The reader runs inline, inside this flush; it returns when the reader waits for more bytes, or,
                // when the reader is behind, once it has caught up (back-pressure for a peer that floods).
                var flush = writer.FlushAsync();
#pragma warning disable VSTHRD002 // This thread exists to block: on the pipe, and here while the reader catches up.
                var result = flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            this.failure = ex;
        }

        writer.Complete();
        try
        {
            stream.Dispose();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // Closed either way.
        }
    }
}
