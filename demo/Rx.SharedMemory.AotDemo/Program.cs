// The Native AOT demo: one program, three processes, no reflection. Run without arguments it is the master and spawns
// itself twice as workers. Worker "writer" writes; worker "reader" reads, observes, and reports what it saw; each sends
// the master a message, and the master answers both with one broadcast. Every value and message goes through the
// source-generated context below (the JsonTypeInfo<T> overloads). The exit code is 0 only when everything checked out.
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json.Serialization;
using Rx.SharedMemory;
using Rx.SharedMemory.AotDemo;

using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
try
{
    return SharedMemoryWorker.IsWorkerProcess ? await RunWorkerAsync(args[0], timeout.Token) : await RunMasterAsync(timeout.Token);
}
catch (Exception ex)
{
    Console.Error.WriteLine($"failed: {ex}");
    return 1;
}

static async Task<int> RunMasterAsync(CancellationToken cancellationToken)
{
    var started = DateTime.UtcNow;
    await using var master = new SharedMemoryMaster();
    var reports = master.Messages.Select(m => (m.WorkerId, Report: m.Deserialize(DemoJson.Default.Report)!)).Take(2).ToList().ToTask(cancellationToken);
    var writer = await master.SpawnWorkerAsync(WorkerStartInfo.ForThisProgram("writer"), cancellationToken);
    var reader = await master.SpawnWorkerAsync(WorkerStartInfo.ForThisProgram("reader"), cancellationToken);
    Say("master", $"workers {writer.Id} (writer) and {reader.Id} (reader) are online");

    foreach (var (workerId, report) in await reports)
    {
        Say("master", $"message from worker {workerId}: {report.From} says \"{report.Text}\"");
    }

    int told = await master.BroadcastAsync(new Bye("thanks, you may go"), DemoJson.Default.Bye, cancellationToken);
    var exitCodes = await Task.WhenAll(writer.Exited, reader.Exited).WaitAsync(cancellationToken);
    var counter = await master.Store.GetEntryAsync("counter", DemoJson.Default.Int64, cancellationToken);
    var greeting = await master.Store.GetEntryAsync("greeting", DemoJson.Default.Greeting, cancellationToken);

    var failures = new List<string>();
    Check(told == 2, $"the broadcast reached {told} workers, not 2");
    Check(exitCodes.All(code => code == 0), $"the workers exited with {string.Join(" and ", exitCodes)}");
    Check(counter?.Value == 3, $"counter is {counter?.Value}, not 3");
    Check(greeting?.Value is { Text: "hello from a native worker", Numbers: [1, 2, 3] }, "greeting is not what the writer wrote");
    Say("master", $"counter = {counter?.Value}, greeting = \"{greeting?.Value.Text}\", workers exited with {string.Join(" and ", exitCodes)}, in {(DateTime.UtcNow - started).TotalMilliseconds:F0} ms");
    foreach (var failure in failures)
    {
        await Console.Error.WriteLineAsync($"failed: {failure}");
    }

    return failures.Count == 0 ? 0 : 1;

    void Check(bool passed, string failure)
    {
        if (!passed)
        {
            failures.Add(failure);
        }
    }
}

static async Task<int> RunWorkerAsync(string role, CancellationToken cancellationToken)
{
    await using var store = await SharedMemoryWorker.ConnectAsync(cancellationToken);
    var me = $"{role} {store.WorkerId}";

    // Subscribed before anything is sent, so that the master's answer cannot come before it.
    var bye = store.Messages.Select(m => m.Deserialize(DemoJson.Default.Bye)!).FirstAsync().ToTask(cancellationToken);
    string text = role switch
    {
        "writer" => await WriteAsync(store, me, cancellationToken),
        "reader" => await ReadAsync(store, me, cancellationToken),
        _ => throw new ArgumentException($"unknown role {role}"),
    };

    await store.SendAsync(new Report(me, text), DemoJson.Default.Report, cancellationToken);
    Say(me, $"the master says \"{(await bye).Text}\"");
    return 0;
}

static async Task<string> WriteAsync(SharedMemoryWorker store, string me, CancellationToken cancellationToken)
{
    var readerReady = store.Observe("reader/ready").FirstAsync(c => c.HasValue).ToTask(cancellationToken);
    long version = await store.SetAsync("greeting", new Greeting("hello from a native worker", [1, 2, 3]), DemoJson.Default.Greeting, cancellationToken: cancellationToken);
    Say(me, $"set greeting at version {version}");
    byte[] blob = [0xDE, 0xAD, 0xBE, 0xEF];
    version = await store.SetAsync("blob", blob, DemoJson.Default.ByteArray, cancellationToken: cancellationToken);
    Say(me, $"set blob = {Convert.ToHexString(blob)} (base64 on the wire) at version {version}");

    await readerReady;
    await using (await store.AcquireLockAsync("counter-lock", TimeSpan.FromSeconds(10), cancellationToken))
    {
        for (int i = 0; i < 3; i++)
        {
            var counted = await store.IncrementAsync("counter", cancellationToken: cancellationToken);
            Say(me, $"incremented counter to {counted.Value} at version {counted.Version}");
        }
    }

    return "wrote greeting, blob and counter";
}

static async Task<string> ReadAsync(SharedMemoryWorker store, string me, CancellationToken cancellationToken)
{
    // The blob is written after the greeting: once it exists, both do.
    await store.Observe("blob").FirstAsync(c => c.HasValue).ToTask(cancellationToken);
    var greeting = await store.GetEntryAsync("greeting", DemoJson.Default.Greeting, cancellationToken);
    var blob = await store.GetAsync("blob", DemoJson.Default.ByteArray, cancellationToken);
    Say(me, $"read greeting \"{greeting!.Value.Text}\" [{string.Join(",", greeting.Value.Numbers)}] (version {greeting.Version}) and blob = {Convert.ToHexString(blob!)}");

    var counts = store.Observe("counter")
        .Where(c => c.HasValue)
        .Select(c => c.GetValue(DemoJson.Default.Int64))
        .Do(value => Say(me, $"observed counter = {value}"))
        .TakeWhile(value => value < 3)
        .ToList()
        .ToTask(cancellationToken);
    await store.SetAsync("reader/ready", true, DemoJson.Default.Boolean, cancellationToken: cancellationToken);
    await counts;
    return blob is [0xDE, 0xAD, 0xBE, 0xEF] ? $"read greeting version {greeting.Version} and the blob, saw the counter reach 3" : "the blob was wrong";
}

static void Say(string who, string what) => Console.WriteLine($"[{who,-8}] {what}");

namespace Rx.SharedMemory.AotDemo
{
    /// <summary>A value the writer stores.</summary>
    internal sealed record Greeting(string Text, int[] Numbers);

    /// <summary>A worker's message to the master.</summary>
    internal sealed record Report(string From, string Text);

    /// <summary>The master's broadcast.</summary>
    internal sealed record Bye(string Text);

    /// <summary>Every type the demo stores or sends, generated at compile time.</summary>
    [JsonSerializable(typeof(Greeting))]
    [JsonSerializable(typeof(Report))]
    [JsonSerializable(typeof(Bye))]
    [JsonSerializable(typeof(byte[]))]
    [JsonSerializable(typeof(long))]
    [JsonSerializable(typeof(bool))]
    internal sealed partial class DemoJson : JsonSerializerContext;
}
