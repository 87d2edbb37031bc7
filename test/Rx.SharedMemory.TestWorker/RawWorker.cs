using System.IO.Pipes;
using System.Text;

namespace Rx.SharedMemory.TestWorker;

/// <summary>A worker that writes protocol frames by hand: a valid hello, then a fault of the scenario's choosing.</summary>
internal static class RawWorker
{
    public static async Task RunAsync(string scenario, Report report)
    {
        using var fromMaster = new AnonymousPipeClientStream(PipeDirection.In, Environment.GetEnvironmentVariable("RX_SHAREDMEMORY_PIPE_IN")!);
        using var toMaster = new AnonymousPipeClientStream(PipeDirection.Out, Environment.GetEnvironmentVariable("RX_SHAREDMEMORY_PIPE_OUT")!);
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
                    // Values placed in the shared region by hand: malformed, out of range, too large, then good.
                    region!.Write(Encoding.UTF8.GetBytes("{\"a\":"), 0);
                    region.Write(Encoding.UTF8.GetBytes("[1,2,3]"), 100);
                    await WriteFrameAsync(toMaster, """{"jsonrpc":"2.0","id":2,"method":"batch","params":[[["set","r/bad",null,null,null,0,5],["set","r/out",null,null,null,1099511627776,10],["set","r/big",null,null,null,0,999999999],["set","r/ok",null,null,null,100,7],["get","r/ok"]]]}""");
                    await ReadUntilAsync(fromMaster, text => text.Contains("\"id\":2", StringComparison.Ordinal) && IsWhole(LastBody(text)));
                    report.Line(LastBody(Received.ToString()));
                    return;
                }

            default:
                throw new ArgumentException($"Unknown scenario '{scenario}'.");
        }

        await endOfFile;
        report.Line("master closed the connection");
    }

    /// <summary>Maps the region's to-master area (after its 64-byte header) as a worker in another language would, and returns a writer for it.</summary>
    private static RegionBytes MapRegion(Report report)
    {
        var parts = Environment.GetEnvironmentVariable("RX_SHAREDMEMORY_REGION")!.Split(':');
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
}
