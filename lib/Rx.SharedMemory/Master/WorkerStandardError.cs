using System.Text;

namespace Rx.SharedMemory.Master;

/// <summary>
/// A worker's standard error, which the master redirected to learn why a worker did not come online: every byte is
/// passed on to the master's own standard error as it comes (so that nothing the worker writes is lost, as if it had
/// inherited it), and, until the worker is online, the last lines are kept for <see cref="SharedMemoryWorkerStartException"/>.
/// </summary>
internal sealed class WorkerStandardError
{
    /// <summary>The most lines the tail keeps.</summary>
    public const int MaxTailLines = 20;

    /// <summary>The most characters the tail keeps, so that a worker writing one endless line costs the master no more.</summary>
    public const int MaxTailChars = 4096;

    private const int ReadBufferBytes = 4096;

    /// <summary>How long <see cref="EndAsync"/> waits for the end once the worker has exited: a process it started may hold its standard error open.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    // The master's standard error, opened once: the workers' pumps share it, one chunk at a time.
    private static readonly Lazy<Stream> MasterStandardError = new(Console.OpenStandardError);
    private static readonly Lock MasterStandardErrorGate = new();

    private readonly Stream source;
    private readonly Stream? destination;
    private readonly Lock destinationGate;
    private readonly Decoder decoder;
    private readonly int maxChars;
    private Task? ending;

    // Guarded by tailGate: written by the pump, read by the spawn; null once the worker is online and no tail is kept.
    private readonly Lock tailGate = new();
    private StringBuilder? tail = new();
    private bool cut;

    private WorkerStandardError(Stream source, Stream? destination, Lock destinationGate, Encoding encoding)
    {
        this.source = source;
        this.destination = destination;
        this.destinationGate = destinationGate;
        this.decoder = encoding.GetDecoder();
        this.maxChars = encoding.GetMaxCharCount(ReadBufferBytes);
        this.Completion = Task.Run(this.PumpAsync);
    }

    /// <summary>Gets a task that completes when the worker's standard error has ended: closed by the worker, and by every process that inherited it.</summary>
    public Task Completion { get; }

    /// <summary>Starts reading a worker's standard error and passing it on to the master's own.</summary>
    /// <param name="source">The read end of the worker's standard error.</param>
    /// <param name="encoding">How the worker writes text, for the tail; what is passed on is the bytes as they are.</param>
    public static WorkerStandardError Start(Stream source, Encoding? encoding) =>
        new(source, MasterStandardError.Value, MasterStandardErrorGate, encoding ?? Encoding.UTF8);

    /// <summary>Starts reading a stream into a tail, passing it on to <paramref name="destination"/>, for tests.</summary>
    internal static WorkerStandardError Start(Stream source, Stream? destination, Encoding encoding) =>
        new(source, destination, new Lock(), encoding);

    /// <summary>
    /// Waits, at most <see cref="DrainTimeout"/>, for the worker's standard error to end, so that what it wrote before
    /// it exited is passed on and in the tail; it ends at once when the worker was its only writer.
    /// </summary>
    /// <remarks>Every call returns the same wait: a failed start waits once to report the exit and again for the tail.</remarks>
    public Task EndAsync() => LazyInitializer.EnsureInitialized(ref this.ending, this.WaitForEndAsync);

    private async Task WaitForEndAsync()
    {
        try
        {
            await this.Completion.WaitAsync(DrainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Held open by a process the worker started: what came so far, and the rest is still passed on.
        }
    }

    /// <summary>Stops keeping the tail (the worker is online); what it writes is still passed on.</summary>
    public void StopKeeping()
    {
        lock (this.tailGate)
        {
            this.tail = null;
        }
    }

    /// <summary>The last lines read so far, oldest first, within <see cref="MaxTailLines"/> and <see cref="MaxTailChars"/>; a last line not ended yet is included.</summary>
    public IReadOnlyList<string> Tail()
    {
        string text;
        bool wasCut;
        lock (this.tailGate)
        {
            if (this.tail is null)
            {
                return [];
            }

            int start = Math.Max(0, this.tail.Length - MaxTailChars);
            text = this.tail.ToString(start, this.tail.Length - start);
            wasCut = this.cut || start > 0;
        }

        var lines = text.Split('\n').Select(line => line.TrimEnd('\r')).ToList();
        if (lines[^1].Length == 0)
        {
            // The text ended with a line's end: no line follows it.
            lines.RemoveAt(lines.Count - 1);
        }

        if (wasCut && lines.Count > 1)
        {
            // The first line lost its beginning to the bound: the whole lines after it say more.
            lines.RemoveAt(0);
        }

        return lines.Count > MaxTailLines ? lines[^MaxTailLines..] : lines;
    }

    private async Task PumpAsync()
    {
        var buffer = new byte[ReadBufferBytes];
        var chars = new char[this.maxChars];
        bool forwarding = this.destination is not null;
        try
        {
            while (await this.source.ReadAsync(buffer).ConfigureAwait(false) is int read and > 0)
            {
                if (forwarding)
                {
                    forwarding = this.Forward(buffer.AsSpan(0, read));
                }

                this.Keep(buffer.AsSpan(0, read), chars);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The worker's Process was disposed, or the pipe broke: nothing more comes.
        }
        finally
        {
            // Closed at its end, not when the worker's Process is collected: a master that restarts workers for months
            // holds no descriptor of theirs.
            await this.source.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Passes a chunk on; false when the master's standard error is gone, so that the worker is still read, and never blocks on it.</summary>
    private bool Forward(ReadOnlySpan<byte> chunk)
    {
        try
        {
            // One chunk at a time, as the worker wrote it: workers' writes are not cut into each other's.
            lock (this.destinationGate)
            {
                this.destination!.Write(chunk);
                this.destination.Flush();
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or NotSupportedException)
        {
            return false;
        }
    }

    private void Keep(ReadOnlySpan<byte> chunk, char[] chars)
    {
        lock (this.tailGate)
        {
            if (this.tail is null)
            {
                return;
            }

            int count = this.decoder.GetChars(chunk, chars, flush: false);
            this.tail.Append(chars, 0, count);
            if (this.tail.Length > 2 * MaxTailChars)
            {
                // Trimmed now and then rather than on every chunk: a worker's chatter costs the master little.
                this.tail.Remove(0, this.tail.Length - MaxTailChars);
                this.cut = true;
            }
        }
    }
}
