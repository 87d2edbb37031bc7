using Rx.SharedMemory.Redis;

namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// redis-master CONFIGURATION STORE KEY LOCK WORKER-REPORT [SEED]: a master on the store kept in Redis that holds LOCK itself and
/// spawns a worker (this program, scenario "ephemeral") that writes KEY as ephemeral, and writes KEY/master as ephemeral itself; with SEED, a second worker
/// writes random keys without end (scenario "tolerant-writer"); then it waits to be killed. Its report says "ready"
/// once LOCK and KEY are held (and the writer has started).
/// </summary>
internal static class RedisMasterHost
{
    public static async Task RunAsync(Report report, string[] arguments)
    {
        var (configuration, storeName, key, lockName, workerReport) = (arguments[0], arguments[1], arguments[2], arguments[3], arguments[4]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var master = await RedisSharedMemory.StartMasterAsync(new RedisStoreOptions { Configuration = configuration, StoreName = storeName }, cancellationToken: timeout.Token);
        await master.Store.AcquireLockAsync(lockName, TimeSpan.FromSeconds(30), timeout.Token);
        var written = master.Store.Observe(key);
        var ephemeral = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watching = written.Subscribe(c =>
        {
            if (c.Exists)
            {
                ephemeral.TrySetResult();
            }
        });
        var self = System.Reflection.Assembly.GetExecutingAssembly().Location;
        await master.SpawnWorkerAsync(WorkerStartInfo.ForAssembly(self, ["ephemeral", workerReport, key]), timeout.Token);
        await ephemeral.Task.WaitAsync(timeout.Token);

        // One of its own: the store outlives the master, and its ephemeral keys must go with it as its workers' do.
        await master.Store.SetAsync(key + "/master", 1, new SetOptions { Ephemeral = true }, timeout.Token);
        if (arguments.Length > 5)
        {
            await master.SpawnWorkerAsync(WorkerStartInfo.ForAssembly(self, ["tolerant-writer", workerReport + ".writer", arguments[5], int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture)]), timeout.Token);
        }

        report.Line("ready");
        await Task.Delay(Timeout.Infinite);
    }
}
