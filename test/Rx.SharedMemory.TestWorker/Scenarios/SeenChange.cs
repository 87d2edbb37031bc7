namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>One change a subscription saw.</summary>
/// <param name="Key">The key that changed.</param>
/// <param name="Kind">How it changed.</param>
/// <param name="Version">The version the change carries.</param>
/// <param name="Skipped">How many versions of the key were conflated into it.</param>
/// <param name="Value">The raw JSON of its value (cut to the record's prefix length), when it has one.</param>
internal sealed record SeenChange(string Key, KeyChangeKind Kind, long Version, long Skipped, string? Value);
