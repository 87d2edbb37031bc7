// The demo: one program, three processes. Run without arguments it is the master: it spawns itself twice as workers
// (the cluster.fork() pattern). Worker "setter" writes; worker "watcher" reads and subscribes. The steps are ordered
// through the store's own observables, never by waiting for time to pass.
using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Rx.SharedMemory;

if (SharedMemoryWorker.IsWorkerProcess)
{
    await using var store = await SharedMemoryWorker.ConnectAsync();
    return args[0] switch
    {
        "setter" => await RunSetterAsync(store),
        "watcher" => await RunWatcherAsync(store),
        _ => 2,
    };
}

return await RunMasterAsync();

static async Task<int> RunMasterAsync()
{
    Console.WriteLine("Rx.SharedMemory demo: a master process owns the store; two worker processes share it over anonymous pipes.");
    Console.WriteLine();
    var clock = Stopwatch.StartNew();
    await using var master = new SharedMemoryMaster();
    using var online = master.WorkerOnline.Subscribe(w => Say("master", $"worker {w.Id} is online (pid {w.ProcessId})"));
    using var exited = master.WorkerExited.Subscribe(e => Say("master", $"worker {e.Worker.Id} exited with code {e.ExitCode}"));
    var changes = master.Changes.Replay();
    using var recording = changes.Connect();

    var setter = await master.SpawnWorkerAsync(WorkerStartInfo.ForThisProgram("setter"));
    var watcher = await master.SpawnWorkerAsync(WorkerStartInfo.ForThisProgram("watcher"));
    var exitCodes = await Task.WhenAll(setter.Exited, watcher.Exited);

    var a = await master.Store.GetEntryAsync<int[]>("a");
    Console.WriteLine();
    Say("master", $"summary: {master.Version} changes committed, {master.Count} keys, a = {Show(a!.Value)} at version {a.Version}, " +
        $"workers exited with {string.Join(" and ", exitCodes)}, in {clock.ElapsedMilliseconds} ms");
    return exitCodes.All(code => code == 0) ? 0 : 1;
}

static async Task<int> RunSetterAsync(SharedMemoryWorker store)
{
    var me = $"worker {store.WorkerId}";
    var watcherReady = store.Observe("watcher/ready").FirstAsync(c => c.HasValue).ToTask();

    long version = await store.SetAsync("a", new[] { 0, 1, 2, 3 });
    Say(me, $"set a = [0,1,2,3] at version {version}");
    byte[] blob = [0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0xFF];
    version = await store.SetAsync("blob", blob);
    Say(me, $"set blob = {Convert.ToHexString(blob)} (a byte[]; base64 on the wire) at version {version}");

    await watcherReady;
    for (int round = 1; round <= 3; round++)
    {
        int[] next = [.. Enumerable.Range(round * 10, 4)];
        version = await store.SetAsync("a", next);
        Say(me, $"set a = {Show(next)} at version {version}");
    }

    return 0;
}

static async Task<int> RunWatcherAsync(SharedMemoryWorker store)
{
    const int Updates = 3;
    var me = $"worker {store.WorkerId}";

    // The blob is written after a: once it exists, both do.
    await store.Observe("blob").FirstAsync(c => c.HasValue).ToTask();
    var a = await store.GetEntryAsync<int[]>("a");
    var blob = await store.GetAsync<byte[]>("blob");
    Say(me, $"read a = {Show(a!.Value)} (version {a.Version}) and blob = {Convert.ToHexString(blob!)}");

    // Resumes from the version read: every later change arrives, none is missed between the read and the subscription.
    var updates = store.Observe("a", fromVersion: a.Version)
        .Do(c => Say(me, $"observed {c.Kind} a = {Show(c.GetValue<int[]>()!)} at version {c.Version}"))
        .Take(Updates)
        .ToTask();
    await store.SetAsync("watcher/ready", true);
    await updates;
    Say(me, $"saw all {Updates} updates; exiting");
    return 0;
}

static string Show(int[] values) => $"[{string.Join(",", values)}]";

static void Say(string who, string what) => Console.WriteLine($"[{who,-8}] {what}");
