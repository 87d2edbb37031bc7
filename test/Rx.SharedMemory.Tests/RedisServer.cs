using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A real redis-server (the Linux distribution's package), started once for the test run as a child process on a
/// free port, in a temporary directory, with AOF on, and stopped by its process id when the run ends, or when this
/// process dies without ending it.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private static readonly Lazy<RedisServer> SharedServer = new(
        () => Environment.GetEnvironmentVariable("RXSM_REDIS") is { Length: > 0 } given ? new RedisServer(given) : Start(),
        LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly string directory;
    private readonly string executable = string.Empty;
    private readonly string[] arguments = [];
    private Process? process;

    private RedisServer(string executable, string directory, int port, string[] arguments)
    {
        this.executable = executable;
        this.directory = directory;
        this.arguments = arguments;
        this.Port = port;
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

    public int Port { get; }

    /// <summary>Starts a server; fails, saying how to install it, when redis-server is not on the machine.</summary>
    public static RedisServer Start(params string[] extraArguments)
    {
        string? executable = Environment.GetEnvironmentVariable("PATH")?.Split(':').Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists);
        if (executable is null)
        {
            throw new InvalidOperationException("redis-server is not installed: the Redis engine's tests need a real one. Install it with 'apt-get install redis-server' (Debian; Redis 7), or run .ci/run, which does.");
        }

        var directory = Directory.CreateTempSubdirectory("rxsm-redis-").FullName;
        var server = new RedisServer(executable, directory, FreePort(), extraArguments);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Dispose();
        server.Launch();
        return server;
    }

    /// <summary>Kills the server with SIGKILL, as a crash would: what it had not written to its AOF is lost.</summary>
    public void Kill()
    {
        var running = this.process ?? throw new InvalidOperationException("This server was not started by the tests.");

        // Its shell kills it when its input ends, and exits once it is dead: then its port and directory are free.
        running.StandardInput.Close();
        if (!running.WaitForExit(10_000))
        {
            try
            {
                running.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }

            running.WaitForExit(10_000);
        }

        running.Dispose();
        this.process = null;
    }

    /// <summary>Starts the server again on the same port and directory: it loads the data its AOF kept.</summary>
    public void Restart()
    {
        if (this.process is not null)
        {
            throw new InvalidOperationException("The server is running; kill it first.");
        }

        this.Launch();
    }

    /// <summary>Stops the server by its process id and removes its directory.</summary>
    public void Dispose()
    {
        if (this.executable.Length == 0)
        {
            return;
        }

        if (this.process is not null)
        {
            this.Kill();
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

    private void Launch()
    {
        // Through a shell that kills the server with SIGKILL once its standard input ends: when this process dies
        // without disposing it (a test host killed), the pipe closes and the server goes too, instead of outliving the
        // run. The shell waits for the server, so it exits once the server is dead, whether killed or ended by itself.
        // (A list run in the background reads /dev/null, hence the watcher reads the pipe through descriptor 3.)
        var startInfo = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add("exec 3<&0; \"$0\" \"$@\" & server=$!; { read -r _ <&3; kill -9 $server; } & wait $server");
        startInfo.ArgumentList.Add(this.executable);
        foreach (var argument in (string[])["--port", this.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", this.directory, "--appendonly", "yes", "--save", string.Empty, "--daemonize", "no", .. this.arguments])
        {
            startInfo.ArgumentList.Add(argument);
        }

        var started = Process.Start(startInfo)!;
        var ready = new ManualResetEventSlim();
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        started.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                output.Enqueue(line);
                if (line.Contains("Ready to accept connections", StringComparison.Ordinal))
                {
                    ready.Set();
                }
            }
        };
        started.ErrorDataReceived += (_, _) => { };
        started.BeginOutputReadLine();
        started.BeginErrorReadLine();
        this.process = started;
        if (!ready.Wait(TimeSpan.FromSeconds(30)) || started.HasExited)
        {
            this.Kill();
            throw new InvalidOperationException($"redis-server did not start on port {this.Port} within 30 s: {string.Join(" / ", output.TakeLast(5))}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
