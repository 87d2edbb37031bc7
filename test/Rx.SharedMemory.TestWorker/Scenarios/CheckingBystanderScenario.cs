using System.Reactive.Linq;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// checking-bystander PREFIX: sets, reads back and increments its own keys, and watches one of them, until PREFIX +
/// "stop" is set; reports how many calls it made and every error or wrong answer it saw.
/// </summary>
internal sealed class CheckingBystanderScenario : Scenario<CheckingBystanderScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var prefix = arguments[0];
        var gate = new Lock();
        var errors = new List<string>(); // guarded by gate: the streams' callbacks add to it too
        long changes = 0;
        void Error(string what)
        {
            lock (gate)
            {
                errors.Add(what);
            }
        }

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stopped = store.Observe(prefix + "stop").Where(c => c.Kind == KeyChangeKind.Set).Subscribe(_ => stop.TrySetResult(), ex => Error($"stop stream {ex}"));
        using var watched = store.Observe(prefix + "n").Subscribe(_ => Interlocked.Increment(ref changes), ex => Error($"watch {ex}"), () => Error("watch completed"));
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        long ops = 0;
        for (long i = 1; !stop.Task.IsCompleted; i++)
        {
            try
            {
                // Each call within 30 s: the run as a whole may take longer than the scenario's guard.
                using var call = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                long version = await store.SetAsync(prefix + "n", i, call.Token);
                var read = await store.GetEntryAsync<long>(prefix + "n", call.Token);
                var counted = await store.IncrementAsync(prefix + "c", 1, call.Token);
                if (read is null || read.Value != i || read.Version != version || counted.Value != i)
                {
                    Error($"wrong answer at {i}: read {read?.Value} v{read?.Version} (set v{version}), count {counted.Value}");
                }

                ops += 3;
            }
            catch (Exception ex)
            {
                Error($"call {ex.GetType().Name} {ex.Message}");
                break;
            }
        }

        lock (gate)
        {
            return new Report(ops, Interlocked.Read(ref changes), [.. errors]);
        }
    }

    /// <param name="Ops">How many calls it made.</param>
    /// <param name="Changes">How many changes of its watched key it saw.</param>
    /// <param name="Errors">Every error or wrong answer, in order.</param>
    internal sealed record Report(long Ops, long Changes, string[] Errors);
}
