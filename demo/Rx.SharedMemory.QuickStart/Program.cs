// <quickstart>
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Rx.SharedMemory;

if (!SharedMemoryWorker.IsWorkerProcess)
{
    // The master: owns the store and spawns this same program as a worker.
    await using var master = new SharedMemoryMaster(new SharedMemoryOptions { MaxValueBytes = 1024 * 1024 });
    using var log = master.Changes.Subscribe(change => Console.WriteLine($"master saw: {change}"));
    IWorker worker = await master.SpawnWorkerAsync(WorkerStartInfo.ForThisProgram());
    Console.WriteLine($"worker exited with {await worker.Exited}; a = [{string.Join(",", (await master.Store.GetAsync<int[]>("a"))!)}]");
}
else
{
    // A worker: the same store API, over the pipes its master gave it.
    await using var store = await SharedMemoryWorker.ConnectAsync();
    long version = await store.SetAsync("a", new[] { 0, 1, 2, 3 });
    int[]? a = await store.GetAsync<int[]>("a");

    // Every change after the version this worker knows, in order, with none missed.
    var next = store.Observe("a", fromVersion: version).FirstAsync().ToTask();
    await store.SetAsync("a", new[] { 4, 5, 6 });
    KeyChange change = await next;
    Console.WriteLine($"worker read [{string.Join(",", a!)}], then saw {change.Kind} at version {change.Version}: {change.Value}");
}
// </quickstart>
