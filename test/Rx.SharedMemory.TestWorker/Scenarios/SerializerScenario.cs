using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// serializer camel KEY OTHER: with camelCase store-wide options, writes a <see cref="Reading"/> at KEY and reads it
/// back and the one at OTHER; serializer default KEY OTHER, the same without options. serializer context KEY OTHER: the same with <see cref="ReadingJsonContext"/> per call,
/// and an update, a compare-and-set, a change and a mirror read with it too.
/// </summary>
internal sealed class SerializerScenario : Scenario<SerializerScenario.Report>
{
    /// <summary>The store-wide options of the camel mode, kept to report whether connecting made them read-only.</summary>
    private static readonly JsonSerializerOptions CamelCase = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public override SharedMemoryWorkerOptions? WorkerOptions(ScenarioArguments arguments) =>
        arguments[0] == "camel" ? new SharedMemoryWorkerOptions { JsonSerializerOptions = CamelCase } : null;

    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        string key = arguments[1], other = arguments[2];
        var written = new Reading("worker", 1.5);
        if (arguments[0] is "camel" or "default")
        {
            await store.SetAsync(key, written, timeout);
            return new Report(
                await RawAsync(store, key, timeout),
                await store.GetAsync<Reading>(key, timeout),
                await store.GetAsync<Reading>(other, timeout),
                CamelCase.IsReadOnly);
        }

        var contract = ReadingJsonContext.Default.Reading;
        var change = store.Observe(key).Where(c => c.Kind == KeyChangeKind.Set).FirstAsync().ToTask(timeout);
        long version = await store.SetAsync(key, written, contract, cancellationToken: timeout);
        var seen = (await change).GetValue(contract);
        var updated = await store.UpdateAsync(key, current => current! with { Value = current.Value * 2 }, contract, cancellationToken: timeout);
        var swapped = await store.CompareAndSetAsync(key, updated.Version, updated.Value with { SensorName = "swapped" }, contract, cancellationToken: timeout);
        using var mirror = await store.MirrorAsync(key, timeout);
        mirror.TryGet(key, contract, out var mirrored);
        return new Report(
            await RawAsync(store, key, timeout),
            await store.GetAsync(key, contract, timeout),
            await store.GetAsync(other, contract, timeout),
            OptionsReadOnly: false,
            seen,
            updated.Value,
            swapped.Succeeded && swapped.Version > version,
            mirrored);
    }

    private static async Task<string?> RawAsync(SharedMemoryWorker store, string key, CancellationToken timeout) =>
        (await store.GetEntryAsync(key, ReadingJsonContext.Default.JsonElement, timeout))?.Value.GetRawText();

    /// <param name="Json">The value at KEY as stored, after the worker's last write.</param>
    /// <param name="ReadBack">The value at KEY, read back as a <see cref="Reading"/>.</param>
    /// <param name="Other">The value at OTHER (written by the master), read as a <see cref="Reading"/>.</param>
    /// <param name="OptionsReadOnly">Whether the camel mode's store-wide options were read-only once connected.</param>
    /// <param name="Seen">The context mode's first change of KEY, read with the contract.</param>
    /// <param name="Updated">What the context mode's update wrote.</param>
    /// <param name="Swapped">Whether the context mode's compare-and-set won, at a later version.</param>
    /// <param name="Mirrored">The context mode's mirror's read of KEY.</param>
    internal sealed record Report(
        string? Json,
        Reading? ReadBack,
        Reading? Other,
        bool OptionsReadOnly,
        Reading? Seen = null,
        Reading? Updated = null,
        bool Swapped = false,
        Reading? Mirrored = null);
}
