// The worker process the tests spawn. Usage: <scenario> <report file> [arguments...]
// A scenario in ScenarioTable (Scenarios/, one class per file) drives the store through the public worker API and
// writes what it saw as one typed JSON record to the report file, which the test reads back into the same record
// type once the process has exited. The scenarios not yet moved there write one line per fact. Standard output is
// left alone.
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;
using Rx.SharedMemory;
using Rx.SharedMemory.TestWorker;
using Rx.SharedMemory.TestWorker.Scenarios;

var scenario = args[0];
var report = new Report(args[1]);
var arguments = args[2..];
if (ScenarioTable.TryGet(scenario, out var registered))
{
    await ScenarioRunner.RunAsync(registered, args[1], arguments);
    return;
}

if (scenario == "expiry-timing")
{
    // Not a worker: a master of its own, measured in a process of its own, away from the test host's threads.
    await ExpiryTiming.RunAsync(report);
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

// A scenario with a slow observer bounds what waits for it: chaos-subscriber SEED [CAPACITY [MAXBYTES [DELAY_MS]]],
// slow-observer PREFIX CAPACITY MAXBYTES DELAY_MS.
var workerOptions = scenario switch
{
    "chaos-subscriber" when arguments.Length > 2 => new SharedMemoryWorkerOptions { SubscriberQueueCapacity = int.Parse(arguments[1], System.Globalization.CultureInfo.InvariantCulture), SubscriberQueueMaxBytes = long.Parse(arguments[2], System.Globalization.CultureInfo.InvariantCulture) },
    "slow-observer" => new SharedMemoryWorkerOptions { SubscriberQueueCapacity = int.Parse(arguments[1], System.Globalization.CultureInfo.InvariantCulture), SubscriberQueueMaxBytes = long.Parse(arguments[2], System.Globalization.CultureInfo.InvariantCulture) },
    _ => null,
};
await using var store = await SharedMemoryWorker.ConnectAsync(workerOptions, loggerFactory: null);
var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token;
report.Line($"worker {store.WorkerId}");

switch (scenario)
{
    case "input-rules":
        {
            // input-rules: breaks each rule on input and reports the exception (type, parameter or limit, message), or
            // "ok"; a call must fail through its task, never at its call site.
            async Task TryAsync(string what, Func<ValueTask> call)
            {
                ValueTask pending;
                try
                {
                    pending = call();
                }
                catch (Exception ex)
                {
                    report.Line($"{what} thrown-at-call-site {ex.GetType().Name}");
                    return;
                }

                try
                {
                    await pending;
                    report.Line($"{what} ok");
                }
                catch (Exception ex)
                {
                    string detail = ex switch
                    {
                        SharedMemoryLimitExceededException limit => $"{limit.LimitName} {limit.Limit} {limit.Actual}",
                        ArgumentException argument => $"param={argument.ParamName}",
                        _ => string.Empty,
                    };
                    report.Line($"{what} {ex.GetType().Name} {detail} inner={ex.InnerException?.GetType().FullName ?? "none"} | {ex.Message}");
                }
            }

            static string Nested(int depth) => new string('[', depth) + "1" + new string(']', depth);
            await TryAsync("lone-high", async () => await store.SetAsync("k\ud800", 1, timeout));
            await TryAsync("lone-low", async () => await store.SetAsync("k\udc00", 1, timeout));
            await TryAsync("pair", async () => await store.SetAsync("k\ud83d\ude00", 1, timeout));
            await TryAsync("get-lone", async () => await store.GetAsync<int>("\udfff", timeout));
            await TryAsync("lock-lone", async () => await store.AcquireLockAsync("l\ud800", TimeSpan.Zero, timeout));
            try
            {
                _ = store.ObservePrefix("p\ud800");
                report.Line("prefix-lone ok");
            }
            catch (ArgumentException ex)
            {
                report.Line($"prefix-lone {ex.GetType().Name} param={ex.ParamName}");
            }

            await TryAsync("depth-32", async () => await store.SetAsync("deep/32", JsonElement.Parse(Nested(32)), timeout));
            await TryAsync("depth-33", async () => await store.SetAsync("deep/33", JsonElement.Parse(Nested(33)), timeout));
            await TryAsync("depth-33-cas", async () => await store.CompareAndSetAsync("deep/33", 0, JsonElement.Parse(Nested(33)), null, timeout));
            await TryAsync("ttl-max", async () => await store.SetAsync("ttl/max", 1, new SetOptions { TimeToLive = TimeSpan.MaxValue }, timeout));
            report.Line($"ttl-present {(await store.GetEntryAsync<int>("ttl/max", timeout)) is not null}");

            // Issued together: the refused one fails through its task, and the other still runs.
            var refused = store.SetAsync(string.Empty, 1, timeout);
            var tooBig = store.SetAsync("big", new string('x', 2_000_000), timeout);
            var accepted = store.SetAsync("together", 1, timeout);
            report.Line($"together faulted {refused.IsFaulted} {tooBig.IsFaulted}");
            await TryAsync("together-accepted", async () => await accepted);
            await TryAsync("unreadable", async () => await store.GetAsync<int>("ttl/text", timeout));
            await TryAsync("unwritable", async () => await store.SetAsync("cycle", typeof(int), timeout));
            await TryAsync("lock-timeout", async () => await store.AcquireLockAsync("held", TimeSpan.FromMilliseconds(10), timeout));
            break;
        }

    case "flood":
        {
            // flood KEY: writes KEY as fast as it can, 16 writes in flight, until it is killed.
            await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
            long i = 0;
            while (true)
            {
                var batch = new Task[16];
                for (int j = 0; j < batch.Length; j++)
                {
                    batch[j] = store.SetAsync(arguments[0], ++i, timeout).AsTask();
                }

                await Task.WhenAll(batch);
            }
        }

    case "chaos-writer":
        {
            // chaos-writer SEED WRITES: 4 loops write or delete random keys p<0..3>/k<0..19> until WRITES in all.
            int seed = int.Parse(arguments[0], System.Globalization.CultureInfo.InvariantCulture);
            int total = int.Parse(arguments[1], System.Globalization.CultureInfo.InvariantCulture);
            int issued = 0;
            await Task.WhenAll(Enumerable.Range(0, 4).Select(async loop =>
            {
                var random = new Random((seed * 31) + loop);
                while (Interlocked.Increment(ref issued) <= total)
                {
                    var key = $"p{random.Next(4)}/k{random.Next(20)}";
                    if (random.Next(10) == 0)
                    {
                        await store.DeleteAsync(key, timeout);
                    }
                    else
                    {
                        await store.SetAsync(key, random.Next(1000), timeout);
                    }
                }
            }));
            report.Line("done");
            break;
        }

    case "chaos-subscriber":
        {
            // chaos-subscriber SEED: until chaos/end is true, keeps opening subscriptions to random keys and prefixes
            // (from the current state, resuming where a disposed one stopped, or from a random version seen) and
            // disposing them; then reports every subscription and what it saw, as one JSON document.
            int maxDelayMs = arguments.Length > 3 ? int.Parse(arguments[3], System.Globalization.CultureInfo.InvariantCulture) : 0;
            await ChaosSubscriber.RunAsync(store, int.Parse(arguments[0], System.Globalization.CultureInfo.InvariantCulture), report, timeout, maxDelayMs);
            break;
        }

    case "slow-observer":
        {
            // slow-observer PREFIX CAPACITY MAXBYTES DELAY_MS: observes PREFIX with an observer that takes DELAY_MS per
            // change, until PREFIX + "end" is true; sets ready/<id> once its state has arrived. Reports the growth of the
            // managed heap (sampled after full collections while it runs, in bytes) and what it saw, as one JSON document
            // (of each value, its first 24 characters: the record must not weigh more than what it measures).
            string prefix = arguments[0];
            int delayMs = int.Parse(arguments[3], System.Globalization.CultureInfo.InvariantCulture);
            var record = new ChaosSubscriber.SubscriptionRecord { Filter = prefix, IsPrefix = true, ValuePrefix = 24 };
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            long baseline = GC.GetTotalMemory(forceFullCollection: true);
            using var subscription = store.ObservePrefix(prefix).Subscribe(change =>
            {
                record.Add(change);
                if (change.Kind == KeyChangeKind.PrefixReset)
                {
                    ready.TrySetResult();
                    return;
                }

                if (change.Key == prefix + "end" && change.Value.ValueKind == JsonValueKind.True)
                {
                    ended.TrySetResult();
                    return;
                }

                // The observer's own work, slower than the writer: what this scenario is about.
                Thread.Sleep(delayMs);
            });
            await ready.Task.WaitAsync(timeout);
            await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
            long peak = 0;
            while (!ended.Task.IsCompleted)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true) - baseline);
                await Task.WhenAny(ended.Task, Task.Delay(50, timeout));
            }

            report.Line($"heap-growth {peak}");
            report.Line(JsonSerializer.Serialize(new[] { record }));
            break;
        }

    case "writes-then-unlock":
        {
            // writes-then-unlock NAME N: takes the lock, says ready, waits for "go", then starts N writes of
            // "guarded" without awaiting them and releases the lock: the writes were made under the lock.
            var held = await store.AcquireLockAsync(arguments[0], TimeSpan.FromSeconds(30), timeout);
            var go = store.Observe("go").FirstAsync(c => c.HasValue).ToTask(timeout);
            await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
            await go;
            int n = int.Parse(arguments[1], System.Globalization.CultureInfo.InvariantCulture);
            var writes = Enumerable.Range(1, n).Select(i => store.SetAsync("guarded", i, timeout).AsTask()).ToArray();
            await held.DisposeAsync();
            await Task.WhenAll(writes);
            break;
        }

    case "hold":
        {
            // hold NAME: takes the lock, says ready, and holds it until killed.
            var held = await store.AcquireLockAsync(arguments[0], TimeSpan.FromSeconds(30), timeout);
            await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
            await Task.Delay(Timeout.Infinite, timeout);
            await held.DisposeAsync();
            break;
        }

    case "wait-lock":
        {
            // wait-lock NAME: asks for the lock, says ready while waiting (the master handles this worker's requests
            // in order, so the wait is queued by then), and sets got/<worker> once it holds it.
            var acquiring = store.AcquireLockAsync(arguments[0], TimeSpan.FromSeconds(60), timeout).AsTask();
            await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
            await using var held = await acquiring;
            await store.SetAsync($"got/{store.WorkerId}", true, timeout);
            report.Line("got the lock");
            break;
        }

    case "ephemeral":
        {
            // ephemeral KEY: writes KEY as ephemeral, says ready, and waits until killed.
            await store.SetAsync(arguments[0], "mine", new SetOptions { Ephemeral = true }, timeout);
            await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
            await Task.Delay(Timeout.Infinite, timeout);
            break;
        }

    case "own":
        {
            // own KIND NAME: waits until go/<worker> is set, then takes the lock NAME (lock), writes NAME as an
            // ephemeral key (ephemeral), or observes NAME (subscribe), and waits until killed.
            await store.Observe($"go/{store.WorkerId}").FirstAsync(c => c.HasValue).ToTask(timeout);
            var name = arguments[1];
            IDisposable? observing = null;
            switch (arguments[0])
            {
                case "lock":
                    await store.AcquireLockAsync(name, TimeSpan.FromSeconds(30), timeout);
                    break;
                case "ephemeral":
                    await store.SetAsync(name, "mine", new SetOptions { Ephemeral = true }, timeout);
                    break;
                case "subscribe":
                    observing = store.Observe(name).Subscribe(_ => { });
                    break;
                default:
                    throw new ArgumentException($"Unknown kind '{arguments[0]}'.");
            }

            await Task.Delay(Timeout.Infinite, timeout);
            observing?.Dispose();
            break;
        }

    case "busy":
        {
            // busy SEED: holds a lock of storm/lock/<0..3> (an odd SEED keeps it until killed), an ephemeral key and a
            // subscription, says ready/<worker>, then until killed 4 loops take and drop locks, ephemeral keys and
            // subscriptions to storm/k<n> and storm/k, write 30 KB values 16 at a time to storm/w<n> (a frame the kill
            // can cut), and read the 200 KB values storm/big/<0..3> all at once (a large batch answer).
            int seed = int.Parse(arguments[0], System.Globalization.CultureInfo.InvariantCulture);
            var value = new string('v', 30_000);
            var id = store.WorkerId;
            var first = await store.AcquireLockAsync($"storm/lock/{seed % 4}", TimeSpan.FromSeconds(30), timeout);
            await store.SetAsync($"storm/eph/{id}/0", seed, new SetOptions { Ephemeral = true }, timeout);
            using var initial = store.ObservePrefix("storm/k").Subscribe(_ => { });
            await store.SetAsync($"ready/{id}", true, timeout);
            if (seed % 2 == 0)
            {
                await first.DisposeAsync();
            }

            await Task.WhenAll(Enumerable.Range(0, 4).Select(async loop =>
            {
                var random = new Random((seed * 31) + loop);
                var subscriptions = new List<IDisposable>();
                while (true)
                {
                    switch (random.Next(5))
                    {
                        case 0:
                            try
                            {
                                await using var held = await store.AcquireLockAsync($"storm/lock/{random.Next(4)}", TimeSpan.FromMilliseconds(random.Next(1, 200)), timeout);
                                await store.SetAsync($"storm/eph/{id}/{random.Next(4)}", loop, new SetOptions { Ephemeral = true }, timeout);
                                await Task.Delay(random.Next(10), timeout);
                            }
                            catch (TimeoutException)
                            {
                                // Another worker held it: the storm goes on.
                            }

                            break;
                        case 1:
                            await store.SetAsync($"storm/eph/{id}/{random.Next(4)}", loop, new SetOptions { Ephemeral = true }, timeout);
                            await store.SetAsync($"storm/k{random.Next(8)}", loop, timeout);
                            break;
                        case 2:
                            subscriptions.Add(random.Next(2) == 0 ? store.Observe($"storm/k{random.Next(8)}").Subscribe(_ => { }) : store.ObservePrefix("storm/k").Subscribe(_ => { }));
                            if (subscriptions.Count > 4)
                            {
                                subscriptions[0].Dispose();
                                subscriptions.RemoveAt(0);
                            }

                            break;
                        case 3:
                            await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => store.SetAsync($"storm/w{random.Next(8)}", value, timeout).AsTask()));
                            break;
                        default:
                            await Task.WhenAll(Enumerable.Range(0, 4).Select(i => store.GetAsync<string>($"storm/big/{i}", timeout).AsTask()));
                            break;
                    }
                }
            }));
            break;
        }

    case "take-locks":
        {
            // take-locks NAME...: takes and releases each lock, waiting at most 10 s for each; reports each outcome.
            foreach (var name in arguments)
            {
                try
                {
                    await using var held = await store.AcquireLockAsync(name, TimeSpan.FromSeconds(10), timeout);
                    report.Line($"took {name}");
                }
                catch (TimeoutException)
                {
                    report.Line($"timeout {name}");
                }
            }

            break;
        }

    case "limits":
        {
            // limits BIGVALUELENGTH LONGKEYLENGTH: breaks each limit and reports what it got back.
            async Task TryAsync(string what, Func<Task> call)
            {
                try
                {
                    await call();
                    report.Line($"{what} succeeded");
                }
                catch (Exception ex)
                {
                    report.Line($"{what} {ex.GetType().Name} {ex.Message}");
                    if (ex is SharedMemoryLimitExceededException limit)
                    {
                        report.Line($"{what} data {limit.Key?.Length} {limit.LimitName} {limit.Limit} {limit.Actual}");
                    }
                }
            }

            var big = new string('x', int.Parse(arguments[0], System.Globalization.CultureInfo.InvariantCulture));
            var longKey = new string('k', int.Parse(arguments[1], System.Globalization.CultureInfo.InvariantCulture));
            await TryAsync("value", () => store.SetAsync("big", big, timeout).AsTask());
            await TryAsync("key", () => store.SetAsync(longKey, 1, timeout).AsTask());
            await TryAsync("empty", () => store.SetAsync(string.Empty, 1, timeout).AsTask());
            await TryAsync("small", () => store.SetAsync("small", 1, timeout).AsTask());
            await TryAsync("increment", () => store.IncrementAsync("text", 1, timeout).AsTask());
            await TryAsync("lock", async () => await store.AcquireLockAsync("busy", TimeSpan.FromMilliseconds(50), timeout));
            await TryAsync("ttl", () => store.SetAsync("short-lived", 1, new SetOptions { TimeToLive = TimeSpan.FromMilliseconds(100) }, timeout).AsTask());
            report.Line($"big stored {(await store.GetEntryAsync<string>("big", timeout)) is not null}");
            break;
        }

    case "large":
        {
            // large COUNT SIZE: byte arrays of SIZE bytes set and read back one by one, then read all at once
            // (pipelined, many in one batch), then rewritten all at once; reports any value that came back wrong.
            int count = int.Parse(arguments[0], System.Globalization.CultureInfo.InvariantCulture);
            int size = int.Parse(arguments[1], System.Globalization.CultureInfo.InvariantCulture);
            int mismatches = 0;
            for (int i = 0; i < count; i++)
            {
                await store.SetAsync($"large/{i}", LargeValue(i, 0, size), timeout);
                mismatches += (await store.GetAsync<byte[]>($"large/{i}", timeout))!.AsSpan().SequenceEqual(LargeValue(i, 0, size)) ? 0 : 1;
            }

            var all = await Task.WhenAll(Enumerable.Range(0, count).Select(i => store.GetAsync<byte[]>($"large/{i}", timeout).AsTask()));
            mismatches += all.Where((value, i) => !value!.AsSpan().SequenceEqual(LargeValue(i, 0, size))).Count();
            await Task.WhenAll(Enumerable.Range(0, count).Select(i => store.SetAsync($"large/{i}", LargeValue(i, 1, size), timeout).AsTask()));
            all = await Task.WhenAll(Enumerable.Range(0, count).Select(i => store.GetAsync<byte[]>($"large/{i}", timeout).AsTask()));
            mismatches += all.Where((value, i) => !value!.AsSpan().SequenceEqual(LargeValue(i, 1, size))).Count();
            report.Line($"mismatches {mismatches}");
            foreach (var descriptor in Directory.GetFiles("/proc/self/fd"))
            {
                if (new FileInfo(descriptor).LinkTarget is { } target && target.Contains("rx-sharedmemory", StringComparison.Ordinal))
                {
                    report.Line($"mapped {target}");
                }
            }

            break;
        }

    case "big-gets":
        {
            // big-gets N: N values of 1.5 MB set one by one, then read all at once (more than one answer can hold),
            // followed by a rewrite of the first and a read of it: each read must see what the order of calls implies.
            int count = int.Parse(arguments[0], System.Globalization.CultureInfo.InvariantCulture);
            string Big(int i) => new((char)('a' + i), 1_500_000);
            for (int i = 0; i < count; i++)
            {
                await store.SetAsync($"big/{i}", Big(i), timeout);
            }

            var reads = Enumerable.Range(0, count).Select(i => store.GetAsync<string>($"big/{i}", timeout).AsTask()).ToArray();
            var rewrite = store.SetAsync("big/0", "changed", timeout).AsTask();
            var reread = store.GetAsync<string>("big/0", timeout).AsTask();
            int wrong = 0;
            for (int i = 0; i < count; i++)
            {
                wrong += await reads[i] == Big(i) ? 0 : 1;
            }

            await rewrite;
            wrong += await reread == "changed" ? 0 : 1;
            report.Line($"wrong {wrong}");
            break;
        }

    case "subscribe-many":
        {
            // subscribe-many KEY N: sets KEY, observes it N times and keeps every subscription, reports how many
            // started (their Reset came) and how the others failed; then ends ten of those that started and observes
            // ten more times, reporting how many of those started.
            var key = arguments[0];
            int n = int.Parse(arguments[1], System.Globalization.CultureInfo.InvariantCulture);
            await store.SetAsync(key, 1, timeout);
            var subscriptions = new List<(IDisposable Subscription, Task<string> Outcome)>();
            void Observe()
            {
                var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
                var subscription = store.Observe(key).Subscribe(
                    _ => outcome.TrySetResult("started"),
                    ex => outcome.TrySetResult(ex is SharedMemoryLimitExceededException limit
                        ? $"refused {limit.LimitName} {limit.Limit} {limit.Actual} {limit.Key}: {limit.Message}"
                        : $"failed {ex.GetType().Name}: {ex.Message}"));
                subscriptions.Add((subscription, outcome.Task));
            }

            for (int i = 0; i < n; i++)
            {
                Observe();
            }

            var outcomes = await Task.WhenAll(subscriptions.Select(s => s.Outcome)).WaitAsync(timeout);
            foreach (var outcome in outcomes.GroupBy(o => o))
            {
                report.Line($"{outcome.Count()} {outcome.Key}");
            }

            foreach (var (subscription, _) in subscriptions.Where((_, i) => outcomes[i] == "started").Take(10).ToArray())
            {
                subscription.Dispose();
            }

            subscriptions.Clear();
            for (int i = 0; i < 10; i++)
            {
                Observe();
            }

            var again = await Task.WhenAll(subscriptions.Select(s => s.Outcome)).WaitAsync(timeout);
            report.Line($"again {again.Count(o => o == "started")} started");
            break;
        }

    case "lock-waits":
        {
            // lock-waits NAME N: asks for the lock NAME (held by another worker) N times at once, each waiting up to
            // two seconds, and reports how the requests ended.
            int n = int.Parse(arguments[1], System.Globalization.CultureInfo.InvariantCulture);
            async Task<string> WaitAsync()
            {
                try
                {
                    await using var held = await store.AcquireLockAsync(arguments[0], TimeSpan.FromSeconds(2), timeout);
                    return "granted";
                }
                catch (SharedMemoryLimitExceededException limit)
                {
                    return $"refused {limit.LimitName} {limit.Limit} {limit.Actual}";
                }
                catch (TimeoutException)
                {
                    return "timed out";
                }
            }

            foreach (var outcome in (await Task.WhenAll(Enumerable.Range(0, n).Select(_ => WaitAsync()))).GroupBy(o => o))
            {
                report.Line($"{outcome.Count()} {outcome.Key}");
            }

            break;
        }

    case "subscribe-hold":
        {
            // subscribe-hold KEY N: observes KEY N times, says ready once every subscription has its Reset, and keeps
            // them until the master goes away.
            var key = arguments[0];
            int n = int.Parse(arguments[1], System.Globalization.CultureInfo.InvariantCulture);
            int started = 0;
            var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var subscriptions = Enumerable.Range(0, n).Select(_ =>
            {
                bool first = true;
                return store.Observe(key).Subscribe(_ =>
                {
                    if (first)
                    {
                        first = false;
                        if (Interlocked.Increment(ref started) == n)
                        {
                            all.TrySetResult();
                        }
                    }
                });
            }).ToArray();
            await all.Task.WaitAsync(timeout);
            await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
            await Task.Delay(Timeout.Infinite, timeout);
            break;
        }

    case "pipeline":
        {
            // pipeline N: N rounds started without awaiting any, each a set of its own key, a get of the key the
            // round before set, and an increment; every 50th round also an increment of a string (refused). Then
            // checks each result against what the order of the calls implies.
            int rounds = int.Parse(arguments[0], System.Globalization.CultureInfo.InvariantCulture);
            await store.SetAsync("pipeline/text", "not a number", timeout);
            var sets = new Task<long>[rounds];
            var gets = new Task<StoreEntry<int>?>[rounds];
            var increments = new Task<StoreEntry<long>>[rounds];
            var refused = new List<Task<StoreEntry<long>>>();
            for (int i = 0; i < rounds; i++)
            {
                sets[i] = store.SetAsync($"pipeline/{i}", i, timeout).AsTask();
                gets[i] = store.GetEntryAsync<int>($"pipeline/{Math.Max(0, i - 1)}", timeout).AsTask();
                increments[i] = store.IncrementAsync("pipeline/count", 1, timeout).AsTask();
                if (i % 50 == 0)
                {
                    refused.Add(store.IncrementAsync("pipeline/text", 1, timeout).AsTask());
                }
            }

            int wrong = 0;
            for (int i = 0; i < rounds; i++)
            {
                var got = await gets[i];
                var expectedVersion = await sets[Math.Max(0, i - 1)];
                var counted = await increments[i];
                if (got is null || got.Value != Math.Max(0, i - 1) || got.Version != expectedVersion || counted.Value != i + 1)
                {
                    wrong++;
                }
            }

            int refusedAsExpected = 0;
            foreach (var call in refused)
            {
                try
                {
                    await call;
                }
                catch (InvalidOperationException ex) when (ex.Message.Contains("pipeline/text", StringComparison.Ordinal))
                {
                    refusedAsExpected++;
                }
            }

            report.Line($"wrong {wrong}");
            report.Line($"refused {refusedAsExpected} of {refused.Count}");
            break;
        }

    default:
        throw new ArgumentException($"Unknown scenario '{scenario}'.");
}

static byte[] LargeValue(int index, int round, int size)
{
    var value = new byte[size];
    new Random((index * 7919) + round).NextBytes(value);
    return value;
}

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
