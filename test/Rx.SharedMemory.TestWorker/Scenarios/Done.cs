namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>The report of a scenario whose only result is that it ran to the end (its effects are in the store).</summary>
internal sealed record Done
{
    /// <summary>The one instance.</summary>
    public static readonly Done Instance = new();
}
