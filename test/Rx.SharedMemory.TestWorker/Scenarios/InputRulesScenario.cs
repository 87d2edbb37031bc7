using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// input-rules: breaks each rule on input and reports how each call ended; a call must fail through its task, never
/// at its call site, so each is made directly (an <c>async</c> lambda around it would hide a throw at the call site).
/// </summary>
internal sealed class InputRulesScenario : Scenario<InputRulesScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, _, timeout, _) = context;
        var calls = new Dictionary<string, Outcome>();
        async Task TryAsync<T>(string what, Func<ValueTask<T>> call) => calls[what] = await Outcome.OfAsync(call);

        static string Nested(int depth) => new string('[', depth) + "1" + new string(']', depth);
        await TryAsync("lone-high", () => store.SetAsync("k\ud800", 1, timeout));
        await TryAsync("lone-low", () => store.SetAsync("k\udc00", 1, timeout));
        await TryAsync("pair", () => store.SetAsync("k\ud83d\ude00", 1, timeout));
        await TryAsync("get-lone", () => store.GetAsync<int>("\udfff", timeout));
        await TryAsync("lock-lone", () => store.AcquireLockAsync("l\ud800", TimeSpan.Zero, timeout));

        // A watch returns no task: it fails its first MoveNextAsync's, not the call.
        await TryAsync("watch-lone", () => store.WatchAsync("w\ud800", cancellationToken: timeout).GetAsyncEnumerator(timeout).MoveNextAsync());
        await TryAsync("watch-prefix-lone", () => store.WatchPrefixAsync("w\udc00", cancellationToken: timeout).GetAsyncEnumerator(timeout).MoveNextAsync());
        Outcome prefixLone;
        try
        {
            _ = store.ObservePrefix("p\ud800");
            prefixLone = Outcome.Succeeded;
        }
        catch (ArgumentException ex)
        {
            // Observing is not asynchronous: a bad prefix throws where it is given.
            prefixLone = Outcome.Of(ex);
        }

        await TryAsync("depth-32", () => store.SetAsync("deep/32", JsonElement.Parse(Nested(32)), timeout));
        await TryAsync("depth-33", () => store.SetAsync("deep/33", JsonElement.Parse(Nested(33)), timeout));
        await TryAsync("depth-33-cas", () => store.CompareAndSetAsync("deep/33", 0, JsonElement.Parse(Nested(33)), null, timeout));
        await TryAsync("ttl-max", () => store.SetAsync("ttl/max", 1, new SetOptions { TimeToLive = TimeSpan.MaxValue }, timeout));
        bool ttlPresent = await store.GetEntryAsync<int>("ttl/max", timeout) is not null;

        // Issued together: the refused one fails through its task, and the other still runs.
        var refused = store.SetAsync(string.Empty, 1, timeout);
        var tooBig = store.SetAsync("big", new string('x', 2_000_000), timeout);
        var accepted = store.SetAsync("together", 1, timeout);
        bool[] togetherFaulted = [refused.IsFaulted, tooBig.IsFaulted];
        await TryAsync("together-accepted", () => accepted);
        await TryAsync("unreadable", () => store.GetAsync<int>("ttl/text", timeout));
        await TryAsync("unwritable", () => store.SetAsync("cycle", typeof(int), timeout));
        await TryAsync("unwritable-nan", () => store.SetAsync("nan", double.NaN, timeout));
        // A type System.Text.Json has no contract for, and per-call options that are null: through the task too.
        await TryAsync("no-contract-set", () => store.SetAsync("collide", new Collide(), timeout));
        await TryAsync("no-contract-get", () => store.GetEntryAsync<Collide>("collide", timeout));
        await TryAsync("no-contract-cas", () => store.CompareAndSetAsync("collide", 0, new Collide(), null, timeout));
        await TryAsync("null-options-get", () => store.GetAsync<int>("k", (JsonSerializerOptions)null!, timeout));
        await TryAsync("null-options-set", () => store.SetAsync("k", 1, (JsonSerializerOptions)null!, null, timeout));
        await TryAsync("lock-timeout", () => store.AcquireLockAsync("held", TimeSpan.FromMilliseconds(10), timeout));
        return new Report(calls, prefixLone, ttlPresent, togetherFaulted);
    }

    /// <summary>Two properties of one JSON name: System.Text.Json refuses the type itself.</summary>
    internal sealed class Collide
    {
        [System.Text.Json.Serialization.JsonPropertyName("x")]
        public int A { get; set; }

        [System.Text.Json.Serialization.JsonPropertyName("x")]
        public int B { get; set; }
    }

    /// <param name="Calls">How each call ended, by name.</param>
    /// <param name="PrefixLone">What observing a prefix with a lone surrogate threw.</param>
    /// <param name="TtlPresent">Whether the key set with the largest time to live was there right after.</param>
    /// <param name="TogetherFaulted">Whether the empty key's and the too large value's tasks had failed at once, issued with a good call.</param>
    internal sealed record Report(Dictionary<string, Outcome> Calls, Outcome PrefixLone, bool TtlPresent, bool[] TogetherFaulted);
}
