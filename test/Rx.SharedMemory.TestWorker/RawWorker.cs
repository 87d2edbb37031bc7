using System.IO.Pipes;
using System.Text;

namespace Rx.SharedMemory.TestWorker;

/// <summary>A worker that writes protocol frames by hand: a valid hello, then a fault of the scenario's choosing.</summary>
internal static partial class RawWorker
{
    public static async Task RunAsync(string scenario, Report report, string[] arguments)
    {
        if (scenario == "raw-flood" && !OperatingSystem.IsWindows())
        {
            Flood(report, int.Parse(arguments[0], System.Globalization.CultureInfo.InvariantCulture));
            return;
        }

        using var fromMaster = new AnonymousPipeClientStream(PipeDirection.In, StartingEnvironment.Get("RX_SHAREDMEMORY_PIPE_IN")!);
        using var toMaster = new AnonymousPipeClientStream(PipeDirection.Out, StartingEnvironment.Get("RX_SHAREDMEMORY_PIPE_OUT")!);
        // The region (raw-region maps it by hand) is announced only by the scenario that uses it.
        var region = scenario == "raw-region" ? MapRegion(report) : null;
        await WriteFrameAsync(toMaster, $$$"""{"jsonrpc":"2.0","id":1,"method":"hello","params":{"protocolVersion":1,"processId":{{{Environment.ProcessId}}},"sharedRegion":{{{(region is null ? "false" : "true")}}}}}""");

        // Reads until the master closes the connection.
        var endOfFile = DrainAsync(fromMaster);
        await ReadUntilAsync(fromMaster, "\"workerId\"");
        report.Line("hello answered");

        switch (scenario)
        {
            case "raw-garbage":
                await WriteFrameAsync(toMaster, "this is not JSON {");
                break;
            case "raw-oversized":
                {
                    // Announces a body of 200 MiB and sends it, up to 256 MiB, for as long as the master reads.
                    await toMaster.WriteAsync(Encoding.ASCII.GetBytes("Content-Length: 209715200\r\n\r\n"));
                    var chunk = new byte[64 * 1024];
                    Array.Fill(chunk, (byte)' ');
                    long sent = 0;
                    try
                    {
                        while (sent < 256L * 1024 * 1024)
                        {
                            await toMaster.WriteAsync(chunk);
                            sent += chunk.Length;
                        }

                        report.Line($"sent all {sent}");
                    }
                    catch (IOException)
                    {
                        report.Line($"closed after {sent}");
                    }

                    break;
                }

            case "raw-watch":
                {
                    // Subscribes to a key and reports, in the order they came on the wire, the value of every change
                    // of it and every message, until the message "end": what no worker library reorders.
                    await WriteFrameAsync(toMaster, $$$"""{"jsonrpc":"2.0","id":2,"method":"subscribe","params":{"subscription":1,"key":"{{{arguments[0]}}}"}}""");
                    await ReadUntilAsync(fromMaster, text => text.Contains("\"id\":2", StringComparison.Ordinal));
                    await WriteFrameAsync(toMaster, """{"jsonrpc":"2.0","id":3,"method":"set","params":["raw-watch/ready",true]}""");
                    await ReadUntilAsync(fromMaster, "\"message\":\"end\"");
                    string received;
                    lock (Received)
                    {
                        received = Received.ToString();
                    }

                    foreach (var frame in Frames(received))
                    {
                        using var document = System.Text.Json.JsonDocument.Parse(frame);
                        var root = document.RootElement;
                        string method = root.TryGetProperty("method", out var m) ? m.GetString()! : string.Empty;
                        if (method == "changes")
                        {
                            foreach (var change in root.GetProperty("params").GetProperty("changes").EnumerateArray())
                            {
                                if (change.TryGetProperty("value", out var value))
                                {
                                    report.Line($"change {value.GetRawText()}");
                                }
                            }
                        }
                        else if (method == "message")
                        {
                            report.Line($"message {root.GetProperty("params").GetProperty("message").GetRawText()}");
                        }
                    }

                    return;
                }

            case "raw-batch":
                {
                    // A batch written by hand, as a worker in another language would: reports the result as is.
                    await WriteFrameAsync(toMaster, """{"jsonrpc":"2.0","id":2,"method":"batch","params":[[["set","raw/a",[1,2]],["get","raw/a"],["increment","raw/a"],["unknown","x"],["get","raw/missing"],["set",""],["increment","raw/n",5]]]}""");
                    await ReadUntilAsync(fromMaster, text => text.Contains("\"id\":2", StringComparison.Ordinal) && IsWhole(LastBody(text)));
                    report.Line(LastBody(Received.ToString()));
                    return;
                }

            case "raw-region":
                {
                    // Values placed in the shared region by hand: malformed, out of range, too large, good, then
                    // nested 100 deep (past MaxValueDepth, and past the 64 levels a JSON reader takes by default).
                    region!.Write(Encoding.UTF8.GetBytes("{\"a\":"), 0);
                    region.Write(Encoding.UTF8.GetBytes("[1,2,3]"), 100);
                    region.Write(Encoding.UTF8.GetBytes(new string('[', 100) + new string(']', 100)), 200);
                    await WriteFrameAsync(toMaster, """{"jsonrpc":"2.0","id":2,"method":"batch","params":[[["set","r/bad",null,null,null,0,5],["set","r/out",null,null,null,1099511627776,10],["set","r/big",null,null,null,0,999999999],["set","r/ok",null,null,null,100,7],["get","r/ok"],["set","r/deep",null,null,null,200,200]]]}""");
                    await ReadUntilAsync(fromMaster, text => text.Contains("\"id\":2", StringComparison.Ordinal) && IsWhole(LastBody(text)));
                    report.Line(LastBody(Received.ToString()));
                    return;
                }

            case "raw-child-holds-pipes":
                {
                    // raw-child-holds-pipes SECONDS: starts `sleep SECONDS`, which inherits this worker's pipe
                    // descriptors (.NET opens them close-on-exec; a worker in another language that starts processes
                    // by fork and exec may not), reports its id, and exits at once, the child still running.
                    foreach (var variable in new[] { "RX_SHAREDMEMORY_PIPE_IN", "RX_SHAREDMEMORY_PIPE_OUT" })
                    {
                        _ = NativeMethods.fcntl(int.Parse(StartingEnvironment.Get(variable)!, System.Globalization.CultureInfo.InvariantCulture), SetDescriptorFlags, 0);
                    }

                    using var child = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", arguments[0]) { UseShellExecute = false })!;
                    report.Line($"child {child.Id} holds {Directory.GetFiles($"/proc/{child.Id}/fd").Length - 3} descriptors beside its standard streams");
                    Environment.Exit(0);
                    break;
                }

            default:
                throw new ArgumentException($"Unknown scenario '{scenario}'.");
        }

        await endOfFile;
        report.Line("master closed the connection");
    }

    /// <summary>
    /// raw-flood N: says hello, then writes up to N gets of flood/value without reading a byte of the answers, for as
    /// long as the master reads (its writes block once the master stops reading). On SIGCONT it stops writing after the
    /// message it is in, reads every answer, and reports "written W answers A".
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void Flood(Report report, int requests)
    {
        using var fromMaster = new AnonymousPipeClientStream(PipeDirection.In, StartingEnvironment.Get("RX_SHAREDMEMORY_PIPE_IN")!);
        using var toMaster = new AnonymousPipeClientStream(PipeDirection.Out, StartingEnvironment.Get("RX_SHAREDMEMORY_PIPE_OUT")!);
        var frames = new FrameCounter(fromMaster);
        using var read = new ManualResetEventSlim();
        using var signal = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGCONT, context =>
        {
            context.Cancel = true;
            read.Set();
        });
        var hello = Encoding.UTF8.GetBytes($$$"""{"jsonrpc":"2.0","id":0,"method":"hello","params":{"protocolVersion":1,"processId":{{{Environment.ProcessId}}}}}""");
        toMaster.Write(Encoding.ASCII.GetBytes($"Content-Length: {hello.Length}\r\n\r\n"));
        toMaster.Write(hello);
        frames.ReadUntil(1);
        report.Line("hello answered");

        // Reads only once told to: until then every answer stays with the master, or in the pipe.
        object progress = new();
        var reader = new Thread(() =>
        {
            read.Wait();
            try
            {
                while (true)
                {
                    frames.ReadUntil(frames.Count + 1);
                    lock (progress)
                    {
                        Monitor.PulseAll(progress);
                    }
                }
            }
            catch (EndOfStreamException)
            {
            }
        })
        { IsBackground = true };
        reader.Start();

        int written = 0;
        var batch = new MemoryStream();
        int inBatch = 0;
        for (int i = 1; i <= requests && !read.IsSet; i++)
        {
            var body = Encoding.UTF8.GetBytes($$$"""{"jsonrpc":"2.0","id":{{{i}}},"method":"get","params":["flood/value"]}""");
            batch.Write(Encoding.ASCII.GetBytes($"Content-Length: {body.Length}\r\n\r\n"));
            batch.Write(body);
            inBatch++;
            if (batch.Length > 16 * 1024 || i == requests)
            {
                toMaster.Write(batch.GetBuffer(), 0, (int)batch.Length);
                written += inBatch;
                batch.SetLength(0);
                inBatch = 0;
            }
        }

        read.Set();
        lock (progress)
        {
            while (frames.Count - 1 < written)
            {
                Monitor.Wait(progress);
            }
        }

        report.Line($"written {written} answers {frames.Count - 1}");
    }

    /// <summary>Counts whole frames read from a stream, by their Content-Length headers.</summary>
    private sealed class FrameCounter(Stream stream)
    {
        private readonly byte[] buffer = new byte[256 * 1024];
        private readonly List<byte> header = [];
        private long bodyLeft;

        private volatile int count;

        public int Count => this.count;

        public void ReadUntil(int frames)
        {
            while (this.Count < frames)
            {
                int read = stream.Read(this.buffer);
                if (read == 0)
                {
                    throw new EndOfStreamException($"The master closed the pipe after {this.Count} frames.");
                }

                for (int i = 0; i < read;)
                {
                    if (this.bodyLeft > 0)
                    {
                        int body = (int)Math.Min(this.bodyLeft, read - i);
                        this.bodyLeft -= body;
                        i += body;
                        if (this.bodyLeft == 0)
                        {
                            this.count++;
                        }

                        continue;
                    }

                    this.header.Add(this.buffer[i++]);
                    int n = this.header.Count;
                    if (n >= 4 && this.header[n - 4] == '\r' && this.header[n - 3] == '\n' && this.header[n - 2] == '\r' && this.header[n - 1] == '\n')
                    {
                        var text = Encoding.ASCII.GetString([.. this.header]);
                        this.bodyLeft = long.Parse(text.Split(':')[1].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                        this.header.Clear();
                    }
                }
            }
        }
    }

    /// <summary>Maps the region's to-master area (after its 64-byte header) as a worker in another language would, and returns a writer for it.</summary>
    private static RegionBytes MapRegion(Report report)
    {
        var parts = StartingEnvironment.Get("RX_SHAREDMEMORY_REGION")!.Split(':');
        var file = new FileStream($"/proc/self/fd/{parts[0]}", FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);

        // A worker that shrank the region under the master's mapping would kill the master at its next access.
        try
        {
            file.SetLength(0);
            report.Line("shrink allowed");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            report.Line("shrink refused");
        }

        var mapping = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateFromFile(file, null, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
        return new RegionBytes(mapping.CreateViewAccessor());
    }

    /// <summary>The to-master area of a mapped region.</summary>
    private sealed class RegionBytes(System.IO.MemoryMappedFiles.MemoryMappedViewAccessor view)
    {
        public void Write(byte[] bytes, int offset) => view.WriteArray(64 + offset, bytes, 0, bytes.Length);
    }

    private static async Task WriteFrameAsync(Stream stream, string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"Content-Length: {body.Length}\r\n\r\n"));
        await stream.WriteAsync(body);
        await stream.FlushAsync();
    }

    private static readonly StringBuilder Received = new();
    private static readonly SemaphoreSlim ReceivedSignal = new(0);

    private static async Task DrainAsync(Stream stream)
    {
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            lock (Received)
            {
                Received.Append(Encoding.UTF8.GetString(buffer, 0, read));
            }

            ReceivedSignal.Release();
        }

        ReceivedSignal.Release();
    }

    /// <summary>The bodies of the frames in what was received, in order (bodies of ASCII only: a length in bytes is one in characters).</summary>
    private static IEnumerable<string> Frames(string received)
    {
        const string LengthName = "Content-Length:";
        int at = 0;
        while (at < received.Length)
        {
            int headersEnd = received.IndexOf("\r\n\r\n", at, StringComparison.Ordinal);
            var lengthLine = received[at..headersEnd].Split("\r\n").Single(line => line.StartsWith(LengthName, StringComparison.Ordinal));
            int length = int.Parse(lengthLine[LengthName.Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            yield return received.Substring(headersEnd + 4, length);
            at = headersEnd + 4 + length;
        }
    }

    /// <summary>The body of the last frame in what was received.</summary>
    private static string LastBody(string received) => received[(received.LastIndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];

    private static bool IsWhole(string json)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(json);
            return true;
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private static Task ReadUntilAsync(Stream stream, string text) =>
        ReadUntilAsync(stream, received => received.Contains(text, StringComparison.Ordinal));

    private static async Task ReadUntilAsync(Stream stream, Func<string, bool> done)
    {
        while (true)
        {
            lock (Received)
            {
                if (done(Received.ToString()))
                {
                    return;
                }
            }

            await ReceivedSignal.WaitAsync();
        }
    }

    private const int SetDescriptorFlags = 2; // F_SETFD

    private static partial class NativeMethods
    {
        [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
        internal static partial int fcntl(int fd, int command, int argument);
    }
}
