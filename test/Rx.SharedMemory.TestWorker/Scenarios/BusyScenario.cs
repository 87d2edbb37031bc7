namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// busy SEED: holds a lock of storm/lock/&lt;0..3&gt; (an odd SEED keeps it until killed), an ephemeral key and a
/// subscription, says ready/&lt;worker&gt;, then until killed 4 loops take and drop locks, ephemeral keys and
/// subscriptions to storm/k&lt;n&gt; and storm/k, write 30 KB values 16 at a time to storm/w&lt;n&gt; (a frame the kill
/// can cut), and read the 200 KB values storm/big/&lt;0..3&gt; all at once (a large batch answer).
/// </summary>
internal sealed class BusyScenario : Scenario<Done>
{
    protected override async Task<Done> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int seed = arguments.Int(0);
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
        return Done.Instance;
    }
}
