// The worker process the tests spawn. Usage: <scenario> <report file> [arguments...]
// A scenario in ScenarioTable (Scenarios/, one class per file) drives the store through the public worker API and
// writes what it saw as one typed JSON record to the report file, which the test reads back into the same record
// type once the process has exited. The programs that are not a connected worker (a master of its own, the raw
// protocol speakers) still write one line per fact. Standard output is left alone.
using System.Diagnostics;
using Rx.SharedMemory;
using Rx.SharedMemory.TestWorker;
using Rx.SharedMemory.TestWorker.Scenarios;

// As the master passed them (the library takes them out of the environment when it is first used).
string?[] pipeHandles = [StartingEnvironment.Get("RX_SHAREDMEMORY_PIPE_IN"), StartingEnvironment.Get("RX_SHAREDMEMORY_PIPE_OUT")];
var scenario = args[0];
var report = new Report(args[1]);
var arguments = args[2..];
if (scenario == "no-reflection")
{
    // First: reflection is switched off before anything of System.Text.Json has read the switch.
    await NoReflection.RunAsync(report);
    return;
}

if (scenario == "child-before-connect")
{
    // A worker that starts a process before it connects, as a host starting its services may, once something of the
    // library other than IsWorkerProcess has run (its options, made up front): the library took the pipes then, so
    // the child inherits neither their variables nor their descriptors.
    var options = new SharedMemoryWorkerOptions();
    var startInfo = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardOutput = true };
    startInfo.ArgumentList.Add("-c");
    startInfo.ArgumentList.Add("""printf 'variables %s|%s,' "$RX_SHAREDMEMORY_PIPE_IN" "$RX_SHAREDMEMORY_PIPE_OUT"; for fd in "$1" "$2"; do if [ -e "/proc/self/fd/$fd" ]; then printf ' open'; else printf ' closed'; fi; done""");
    startInfo.ArgumentList.Add("sh");
    startInfo.ArgumentList.Add(pipeHandles[0] ?? string.Empty);
    startInfo.ArgumentList.Add(pipeHandles[1] ?? string.Empty);
    using (var child = Process.Start(startInfo)!)
    {
        report.Line($"child {await child.StandardOutput.ReadToEndAsync()}");
        await child.WaitForExitAsync();
    }

    report.Line($"worker {SharedMemoryWorker.IsWorkerProcess}");
    await using var connected = await SharedMemoryWorker.ConnectAsync(options, loggerFactory: null);
    await connected.SetAsync("child-before-connect", true);
    return;
}

if (scenario == "connect-after-cancelled")
{
    // A connect given a token cancelled already, then one without: the first takes nothing, the second connects.
    using (var cancelled = new CancellationTokenSource())
    {
        cancelled.Cancel();
        try
        {
            await SharedMemoryWorker.ConnectAsync(new SharedMemoryWorkerOptions(), loggerFactory: null, cancelled.Token);
            report.Line("connected with a cancelled token");
        }
        catch (OperationCanceledException)
        {
            report.Line("cancelled");
        }
    }

    await using var connected = await SharedMemoryWorker.ConnectAsync(new SharedMemoryWorkerOptions(), loggerFactory: null);
    await connected.SetAsync("connect-after-cancelled", true);
    return;
}

if (ScenarioTable.TryGet(scenario, out var registered))
{
    await ScenarioRunner.RunAsync(registered, args[1], arguments, pipeHandles);
    return;
}

if (scenario == "expiry-timing")
{
    // Not a worker: a master of its own, measured in a process of its own, away from the test host's threads.
    await ExpiryTiming.RunAsync(report, arguments);
    return;
}

if (scenario == "exit-at-once")
{
    // Not a worker: a program that fails before it connects, as a misconfigured worker would. Usage: exit-at-once
    // <report> <exit code> <lines>: writes that many lines to standard error, then exits with that code.
    int lines = int.Parse(arguments[1], System.Globalization.CultureInfo.InvariantCulture);
    for (int line = 1; line <= lines; line++)
    {
        Console.Error.WriteLine($"exit-at-once: line {line} of {lines}");
    }

    Environment.Exit(int.Parse(arguments[0], System.Globalization.CultureInfo.InvariantCulture));
}

if (scenario == "stderr-master")
{
    // Not a worker: a master of its own, whose standard error the test reads for what its workers wrote to theirs.
    await StandardErrorMaster.RunAsync(report);
    return;
}

if (scenario == "master-ids")
{
    // Not a worker: a fresh process's first masters, numbered for their metrics' tag.
    await MasterIds.RunAsync(report);
    return;
}

if (scenario == "hosted-worker")
{
    // Not a scenario of a connected worker: a generic-host program that connects through AddSharedMemoryWorker.
    await HostedWorker.RunAsync(report);
    return;
}

if (scenario == "hosted-worker-slow-start")
{
    await HostedWorker.RunSlowStartAsync(report);
    return;
}

if (scenario == "hosted-worker-start-waits")
{
    await HostedWorker.RunStartWaitsAsync(report);
    return;
}

if (scenario == "hosted-worker-call-lost")
{
    await HostedWorker.RunCallLostAsync(report);
    return;
}

if (scenario == "hosted-worker-unanswered")
{
    await HostedWorker.RunUnansweredAsync(report);
    return;
}

if (scenario == "redis-master")
{
    // Not a worker: a master on a store kept in Redis, with a worker of its own, for the tests to kill.
    await RedisMasterHost.RunAsync(report, arguments);
    return;
}

if (scenario is "raw-frames" or "raw-fuzz")
{
    await RawFuzz.RunAsync(scenario, arguments, report);
    return;
}

if (scenario.StartsWith("raw-", StringComparison.Ordinal))
{
    // Speaks the protocol by hand, as a worker in another language would, then breaks it.
    await RawWorker.RunAsync(scenario, report, arguments);
    return;
}

throw new ArgumentException($"Unknown scenario '{scenario}'.");

namespace Rx.SharedMemory.TestWorker
{
    /// <summary>Appends lines to the report file, flushed at once so that a killed worker's report is still whole up to its death.</summary>
    internal sealed class Report(string path)
    {
        private readonly Lock gate = new();

        public void Line(string text)
        {
            lock (this.gate)
            {
                File.AppendAllText(path, text + "\n");
            }
        }
    }

    /// <summary>A value of many JSON shapes, for the round-trip test.</summary>
    public sealed record Sample(int Int, long Long, double Double, decimal Decimal, bool Flag, string Text, int[] Numbers, Dictionary<string, Sample?>? Children, string? Nothing);
}
