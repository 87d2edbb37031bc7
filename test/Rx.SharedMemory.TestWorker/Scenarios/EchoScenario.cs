using System.Reactive.Linq;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// echo [sync]: answers every set of ping/&lt;n&gt; by setting pong/&lt;n&gt; to the same value, until the master goes
/// away; with "sync", waits for each answer synchronously inside OnNext.
/// </summary>
internal sealed class EchoScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        bool sync = arguments.Count > 0 && arguments[0] == "sync";
        var gone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = store.ObservePrefix("ping/").Where(c => c.Kind == KeyChangeKind.Set).Subscribe(
            change =>
            {
                var answer = store.SetAsync("pong/" + change.Key["ping/".Length..], change.Value, timeout).AsTask();
                if (sync)
                {
#pragma warning disable VSTHRD002 // The synchronous wait inside OnNext is what the scenario proves safe.
                    answer.GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
                }
            },
            error => gone.TrySetResult(),
            () => gone.TrySetResult());
        await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
        await gone.Task.WaitAsync(timeout);
        return Done.Instance;
    }
}
