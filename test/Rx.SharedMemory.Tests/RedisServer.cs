using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A real redis-server (the Linux distribution's package), started once for the test run as a child process on a
/// free port, in a temporary directory, with AOF on, and stopped by its process id when the run ends.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private static readonly Lazy<RedisServer> SharedServer = new(
        () => Environment.GetEnvironmentVariable("RXSM_REDIS") is { Length: > 0 } given ? new RedisServer(given) : Start(),
        LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly Process? process;
    private readonly string directory;

    private RedisServer(Process process, string directory, int port)
    {
        this.process = process;
        this.directory = directory;
        this.Configuration = $"127.0.0.1:{port}";
    }

    // A server someone else started and stops (.ci/run sets RXSM_REDIS to it).
    private RedisServer(string configuration)
    {
        this.directory = string.Empty;
        this.Configuration = configuration;
    }

    /// <summary>
    /// Gets the server the whole run shares, each test naming a store of its own: the one RXSM_REDIS names
    /// (host:port), or one started for the run.
    /// </summary>
    public static RedisServer Shared => SharedServer.Value;

    public string Configuration { get; }

    /// <summary>Starts a server; fails, saying how to install it, when redis-server is not on the machine.</summary>
    public static RedisServer Start(params string[] extraArguments)
    {
        string? executable = Environment.GetEnvironmentVariable("PATH")?.Split(':').Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists);
        if (executable is null)
        {
            throw new InvalidOperationException("redis-server is not installed: the Redis engine's tests need a real one. Install it with 'apt-get install redis-server' (Debian; Redis 7), or run .ci/run, which does.");
        }

        var directory = Directory.CreateTempSubdirectory("rxsm-redis-").FullName;
        int port = FreePort();
        var startInfo = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", directory, "--appendonly", "yes", "--save", string.Empty, "--daemonize", "no", .. extraArguments])
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = Process.Start(startInfo)!;
        var ready = new ManualResetEventSlim();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("Ready to accept connections", StringComparison.Ordinal) == true)
            {
                ready.Set();
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new RedisServer(process, directory, port);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Dispose();
        if (!ready.Wait(TimeSpan.FromSeconds(30)) || process.HasExited)
        {
            server.Dispose();
            throw new InvalidOperationException($"redis-server did not start on port {port} within 30 s.");
        }

        return server;
    }

    /// <summary>Stops the server by its process id and removes its directory.</summary>
    public void Dispose()
    {
        if (this.process is null)
        {
            return;
        }

        try
        {
            this.process.Kill(entireProcessTree: true);
            this.process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        try
        {
            Directory.Delete(this.directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: it is a temporary directory.
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
