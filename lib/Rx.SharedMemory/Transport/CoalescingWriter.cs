using System.Buffers;
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

    /// <param name="stream">The stream written to.</param>
    /// <param name="outbound">
    /// Null: a flush waits while <c>PauseBytes</c> are unwritten (the worker's side, whose messages are its own calls).
    /// Otherwise a flush never waits and <paramref name="outbound"/> counts the memory that holds unwritten bytes, for
    /// the master to bound it where it can: by reading no more requests. A flush that waited would hold the JSON-RPC
    /// handler's send lock, and every later answer would wait for it in a queue nothing bounds. Once a write fails (the
    /// worker closed its read end, or exited), what is flushed is dropped and the master reads on.
    /// </param>
    public static PipeWriter Start(Stream stream, OutboundBuffer? outbound = null)
    {
        int pause = outbound is null ? PauseBytes : 0;
        var pipe = new Pipe(new PipeOptions(
            pool: outbound is null ? null : new CountingPool(outbound),
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: pause,
            resumeWriterThreshold: pause / 2,
            useSynchronizationContext: false));
        _ = DrainAsync(pipe.Reader, stream, outbound);
        return pipe.Writer;
    }

    private static async Task DrainAsync(PipeReader reader, Stream stream, OutboundBuffer? outbound)
    {
        Exception? failure = null;
        bool peerStoppedReading = false;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                try
                {
                    if (!peerStoppedReading)
                    {
                        foreach (var segment in result.Buffer)
                        {
                            await stream.WriteAsync(segment).ConfigureAwait(false);
                        }
                    }
                }
                catch (IOException) when (outbound is not null)
                {
                    // The worker closed its read end (or exited): what it sends still runs, and what would go to it is
                    // dropped here. A failed flush would fail the answer's send, which StreamJsonRpc reports as the
                    // request's own failure (logged as a fault of the master's, 108).
                    peerStoppedReading = true;
                    outbound.PeerStoppedReading();
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

        outbound?.Close();
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

    /// <summary>
    /// The pipe's memory, counted in <see cref="OutboundBuffer"/> from the moment the pipe takes a block until it gives
    /// it back, once the stream has taken its bytes: what the master really holds, partly filled blocks included.
    /// </summary>
    private sealed class CountingPool(OutboundBuffer outbound) : MemoryPool<byte>
    {
        public override int MaxBufferSize => Shared.MaxBufferSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            var block = Shared.Rent(minBufferSize);
            outbound.Added(block.Memory.Length);
            return new Block(block, outbound);
        }

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Block(IMemoryOwner<byte> inner, OutboundBuffer outbound) : IMemoryOwner<byte>
        {
            private int disposed;

            public Memory<byte> Memory => inner.Memory;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref this.disposed, 1) == 0)
                {
                    outbound.Written(inner.Memory.Length);
                    inner.Dispose();
                }
            }
        }
    }
}
