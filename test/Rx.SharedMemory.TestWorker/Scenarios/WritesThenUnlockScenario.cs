using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// writes-then-unlock NAME N: takes the lock, says ready, waits for "go", then starts N writes of "guarded" without
/// awaiting them and releases the lock: the writes were made under the lock.
/// </summary>
internal sealed class WritesThenUnlockScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        var held = await store.AcquireLockAsync(arguments[0], TimeSpan.FromSeconds(30), timeout);
        var go = store.Observe("go").FirstAsync(c => c.HasValue).ToTask(timeout);
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        await go;
        int n = arguments.Int(1);
        var writes = Enumerable.Range(1, n).Select(i => store.SetAsync("guarded", i, timeout).AsTask()).ToArray();
        await held.DisposeAsync();
        await Task.WhenAll(writes);
        return Done.Instance;
    }
}
