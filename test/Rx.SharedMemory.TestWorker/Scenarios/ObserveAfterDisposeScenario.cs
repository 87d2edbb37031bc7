using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>observe-after-dispose: disposes the worker, then reports how a call and each way of subscribing end.</summary>
internal sealed class ObserveAfterDisposeScenario : Scenario<ObserveAfterDisposeScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, _, timeout, _) = context;
        await store.DisposeAsync();

        return new Report(
            Get: await Outcome.OfAsync(async () => await store.GetAsync<int>("a", timeout)),
            Observe: await EndOfAsync(store.Observe("a"), timeout),
            ObservePrefix: await EndOfAsync(store.ObservePrefix("p/"), timeout),
            Watch: await Outcome.OfAsync(async () =>
            {
                await foreach (var change in store.WatchAsync("a", cancellationToken: timeout))
                {
                    throw new InvalidOperationException($"a change came: {change}");
                }
            }),
            Mirror: await Outcome.OfAsync(async () => (await store.MirrorAsync("p/", timeout)).Dispose()));
    }

    /// <summary>How a subscription ends: with an error, or completed ("Completed" with how many changes came).</summary>
    private static async Task<Outcome> EndOfAsync(IObservable<KeyChange> source, CancellationToken timeout)
    {
        try
        {
            var changes = await source.ToArray().ToTask(timeout);
            return new Outcome(Exception: null, Message: $"Completed with {changes.Length} changes");
        }
        catch (Exception ex)
        {
            return Outcome.Of(ex);
        }
    }

    /// <param name="Get">How a get ended.</param>
    /// <param name="Observe">How a subscription of a key ended.</param>
    /// <param name="ObservePrefix">How a subscription of a prefix ended.</param>
    /// <param name="Watch">How an enumeration of a key's changes ended.</param>
    /// <param name="Mirror">How making a mirror ended.</param>
    internal sealed record Report(Outcome Get, Outcome Observe, Outcome ObservePrefix, Outcome Watch, Outcome Mirror);
}
