using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// own KIND NAME: waits until go/&lt;worker&gt; is set, then takes the lock NAME (lock), writes NAME as an ephemeral
/// key (ephemeral), or observes NAME (subscribe), and waits until killed.
/// </summary>
internal sealed class OwnScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
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
        return Done.Instance;
    }
}
