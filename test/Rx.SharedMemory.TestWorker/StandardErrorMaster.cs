namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// A master that spawns a worker that writes to standard error once connected, then one that writes to it and exits
/// before connecting: what both wrote must reach this process's own standard error, and the second's last lines its
/// <see cref="SharedMemoryWorkerStartException"/>, which is reported as "tail LINE|LINE|...".
/// </summary>
internal static class StandardErrorMaster
{
    public static async Task RunAsync(Report report)
    {
        var self = typeof(StandardErrorMaster).Assembly.Location;
        await using var master = new SharedMemoryMaster();

        var online = await master.SpawnWorkerAsync(WorkerStartInfo.ForAssembly(self, "write-stderr", "-", "written-after-connecting"));
        report.Line($"online exited {await online.Exited}");

        try
        {
            await master.SpawnWorkerAsync(WorkerStartInfo.ForAssembly(self, "exit-at-once", "-", "3", "2"));
            report.Line("no exception");
        }
        catch (SharedMemoryWorkerStartException ex)
        {
            report.Line($"exit code {ex.ExitCode}");
            report.Line($"tail {string.Join('|', ex.StandardErrorTail)}");
        }
    }
}
