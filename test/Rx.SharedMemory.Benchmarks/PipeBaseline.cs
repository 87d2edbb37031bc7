using System.Diagnostics;
using System.IO.Pipes;

namespace Rx.SharedMemory.Benchmarks;

/// <summary>
/// What the pipe itself allows, measured the same way the library uses it: a pair of .NET anonymous pipes between
/// this process and a child, async reads and writes, no RPC.
/// </summary>
internal static class PipeBaseline
{
    public const string EchoArgument = "pipe-echo";
    private const int PingBytes = 64;
    private const int Chunk = 1024 * 1024;

    public static async Task RunAsync(Figures figures, Phase phase)
    {
        using var toChild = new AnonymousPipeServerStream(PipeDirection.Out, HandleInheritability.Inheritable);
        using var fromChild = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
        var startInfo = WorkerStartInfo.ForThisProgram(EchoArgument, toChild.GetClientHandleAsString(), fromChild.GetClientHandleAsString());
        using var child = Process.Start(startInfo)!;
        toChild.DisposeLocalCopyOfClientHandle();
        fromChild.DisposeLocalCopyOfClientHandle();

        // Ping-pong of 64 bytes.
        var ping = new byte[PingBytes];
        var pong = new byte[PingBytes];
        var samples = new List<double>();
        await phase.RunAsync(async measured =>
        {
            long start = Stopwatch.GetTimestamp();
            ping[0] = 1;
            await toChild.WriteAsync(ping);
            await fromChild.ReadExactlyAsync(pong);
            if (measured)
            {
                samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            }
        });

        figures.Add("pipe_rtt_us", Figures.Percentile(samples, 50), "us");

        // One-way 1 MiB writes; the child acknowledges once it has read them all.
        ping[0] = 2;
        await toChild.WriteAsync(ping);
        var chunk = new byte[Chunk];
        Random.Shared.NextBytes(chunk);
        long chunks = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < phase.Measure)
        {
            await toChild.WriteAsync(chunk);
            chunks++;
        }

        toChild.Close();
        await fromChild.ReadExactlyAsync(pong.AsMemory(0, 8));
        double seconds = clock.Elapsed.TotalSeconds;
        if (BitConverter.ToInt64(pong) != chunks * Chunk)
        {
            throw new InvalidOperationException("The child did not read every byte.");
        }

        figures.Add("pipe_mb_per_s", chunks * Chunk / seconds / 1e6, "MB/s");
        await child.WaitForExitAsync();
    }

    /// <summary>The child: echoes 64-byte pings, then counts the bulk bytes and reports the total.</summary>
    public static async Task EchoAsync(string[] args)
    {
        using var input = new AnonymousPipeClientStream(PipeDirection.In, args[1]);
        using var output = new AnonymousPipeClientStream(PipeDirection.Out, args[2]);
        var buffer = new byte[Chunk];
        while (true)
        {
            await input.ReadExactlyAsync(buffer.AsMemory(0, PingBytes));
            if (buffer[0] == 2)
            {
                break;
            }

            await output.WriteAsync(buffer.AsMemory(0, PingBytes));
        }

        long total = 0;
        int read;
        while ((read = await input.ReadAsync(buffer)) > 0)
        {
            total += read;
        }

        await output.WriteAsync(BitConverter.GetBytes(total));
    }
}
