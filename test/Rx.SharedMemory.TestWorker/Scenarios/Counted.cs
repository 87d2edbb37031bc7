namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>How many of a scenario's calls ended alike.</summary>
/// <typeparam name="T">What they ended with.</typeparam>
/// <param name="Count">How many.</param>
/// <param name="Value">What they ended with.</param>
internal sealed record Counted<T>(int Count, T Value)
{
    /// <summary>Groups equal values and counts each.</summary>
    public static Counted<T>[] Of(IEnumerable<T> values) => [.. values.GroupBy(v => v).Select(g => new Counted<T>(g.Count(), g.Key))];
}
