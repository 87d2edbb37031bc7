using System.IO.Pipelines;

namespace Rx.SharedMemory.Transport;

/// <summary>
/// A <see cref="PipeWriter"/> in front of a stream that writes what has been flushed as soon as the stream is free, in
/// as few writes as possible. The JSON-RPC handler flushes after every message; written straight to the pipe that is
/// one system call, and one wake-up of the peer, per message. Here the thread that flushes into an idle writer writes
/// at once (no hop, so a lone request loses no time), while messages flushed during a write wait and go together in
/// the next one: under load, many responses or notifications share a system call.
/// </summary>
internal static class CoalescingWriter
{
    private const int PauseBytes = 256 * 1024;

    public static PipeWriter Start(Stream stream)
    {
        var pipe = new Pipe(new PipeOptions(
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: PauseBytes,
            resumeWriterThreshold: PauseBytes / 2,
            useSynchronizationContext: false));
        _ = DrainAsync(pipe.Reader, stream);
        return pipe.Writer;
    }

    private static async Task DrainAsync(PipeReader reader, Stream stream)
    {
        Exception? failure = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                foreach (var segment in result.Buffer)
                {
                    await stream.WriteAsync(segment).ConfigureAwait(false);
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            // The peer is gone; the writer side sees the failure on its next flush.
            failure = ex;
        }

        await reader.CompleteAsync(failure).ConfigureAwait(false);
        try
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // Closed either way; nothing awaits this task, so nothing may escape it.
        }
    }
}
