using System.IO.Pipes;
using System.Text;
using System.Text.Json;

namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// The raw pipes of a worker that speaks the protocol by hand: writes any bytes, reads the master's frames one by one,
/// and tells, after each frame it sends, whether the master answered a probe behind it or closed the connection.
/// </summary>
internal sealed class RawConnection : IDisposable
{
    private readonly AnonymousPipeClientStream fromMaster;
    private readonly AnonymousPipeClientStream toMaster;
    private readonly Lock gate = new();
    private readonly Dictionary<string, TaskCompletionSource<string>> waiting = [];
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long nextProbe;

    public RawConnection()
    {
        this.fromMaster = new AnonymousPipeClientStream(PipeDirection.In, StartingEnvironment.Get("RX_SHAREDMEMORY_PIPE_IN")!);
        this.toMaster = new AnonymousPipeClientStream(PipeDirection.Out, StartingEnvironment.Get("RX_SHAREDMEMORY_PIPE_OUT")!);
        _ = Task.Run(this.ReadAsync);
    }

    /// <summary>Gets a task that completes when the master has closed the connection.</summary>
    public Task Closed => this.closed.Task;

    /// <summary>Every frame body the master sent that no one waited for (notifications, answers to ids not awaited), when kept.</summary>
    public List<string>? Unclaimed { get; set; }

    public static byte[] Frame(string json) => Frame(Encoding.UTF8.GetBytes(json));

    public static byte[] Frame(byte[] body) => [.. Encoding.ASCII.GetBytes($"Content-Length: {body.Length}\r\n\r\n"), .. body];

    /// <summary>Sends a valid hello and waits for its answer.</summary>
    public async Task HelloAsync()
    {
        var answer = this.ExpectAsync("\"hello\"");
        await this.WriteAsync(Frame($$$"""{"jsonrpc":"2.0","id":"hello","method":"hello","params":{"protocolVersion":1,"processId":{{{Environment.ProcessId}}}}}"""));
        await answer;
    }

    /// <summary>Writes bytes one a write, as a worker that writes a frame in pieces may; false when the master has closed the connection.</summary>
    public async Task<bool> WriteEachByteAsync(byte[] bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            if (!await this.WriteAsync(bytes[i..(i + 1)]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Writes bytes; false when the master has closed the connection.</summary>
    public async Task<bool> WriteAsync(byte[] bytes)
    {
        try
        {
            await this.toMaster.WriteAsync(bytes);
            await this.toMaster.FlushAsync();
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>A task for the answer to the request whose <c>"id"</c> is <paramref name="idJson"/> (as JSON text).</summary>
    public Task<string> ExpectAsync(string idJson)
    {
        var answer = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (this.gate)
        {
            this.waiting[idJson] = answer;
        }

        return answer.Task;
    }

    /// <summary>
    /// Sends a probe (a get) and waits for its answer or the end of the connection: true when answered, so that every
    /// byte sent before it was read and handled as the master saw fit. Past <paramref name="patience"/>, the master
    /// may be waiting for the rest of a body a bad header announced: <paramref name="onSlow"/> runs once (it may send
    /// filler), and the wait goes on up to <paramref name="limit"/>, past which the master counts as hung.
    /// </summary>
    public async Task<ProbeOutcome> ProbeAsync(TimeSpan patience, Func<Task> onSlow, TimeSpan limit)
    {
        string id = $"\"probe-{Interlocked.Increment(ref this.nextProbe)}\"";
        var answer = this.ExpectAsync(id);
        if (!await this.WriteAsync(Frame($$"""{"jsonrpc":"2.0","id":{{id}},"method":"get","params":["probe"]}""")))
        {
            return ProbeOutcome.Closed;
        }

        var first = await Task.WhenAny(answer, this.Closed, Task.Delay(patience));
        if (first == answer)
        {
            return ProbeOutcome.Answered;
        }

        if (first == this.Closed)
        {
            return ProbeOutcome.Closed;
        }

        await onSlow();
        first = await Task.WhenAny(answer, this.Closed, Task.Delay(limit));
        return first == answer ? ProbeOutcome.Answered : first == this.Closed ? ProbeOutcome.Closed : ProbeOutcome.Hung;
    }

    public void Dispose()
    {
        this.toMaster.Dispose();
        this.fromMaster.Dispose();
    }

    private async Task ReadAsync()
    {
        var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await this.fromMaster.ReadAsync(chunk)) > 0)
            {
                buffer.Write(chunk.AsSpan(0, read));
                this.TakeFrames(buffer);
            }
        }
        catch (IOException)
        {
        }

        this.closed.TrySetResult();
    }

    /// <summary>Takes every whole frame off the front of <paramref name="buffer"/>; the master's frames are well formed.</summary>
    private void TakeFrames(MemoryStream buffer)
    {
        var bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        int start = 0;
        while (true)
        {
            int headerEnd = bytes[start..].IndexOf("\r\n\r\n"u8);
            if (headerEnd < 0)
            {
                break;
            }

            var header = Encoding.ASCII.GetString(bytes.Slice(start, headerEnd));
            int length = int.Parse(header[(header.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            int bodyStart = start + headerEnd + 4;
            if (bytes.Length - bodyStart < length)
            {
                break;
            }

            this.Dispatch(Encoding.UTF8.GetString(bytes.Slice(bodyStart, length)));
            start = bodyStart + length;
        }

        var rest = bytes[start..].ToArray();
        buffer.SetLength(0);
        buffer.Write(rest);
    }

    private void Dispatch(string body)
    {
        using var document = JsonDocument.Parse(body);
        string? id = document.RootElement.TryGetProperty("id", out var idElement) ? idElement.GetRawText() : null;
        TaskCompletionSource<string>? answer = null;
        lock (this.gate)
        {
            if (id is null || !this.waiting.Remove(id, out answer))
            {
                this.Unclaimed?.Add(body);
            }
        }

        answer?.TrySetResult(body);
    }
}

/// <summary>What became of a probe.</summary>
internal enum ProbeOutcome
{
    /// <summary>The master answered it: it read and handled every byte before it.</summary>
    Answered,

    /// <summary>The master closed the connection.</summary>
    Closed,

    /// <summary>Neither, within the limit.</summary>
    Hung,
}
