namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>One value a mirror returned: the key, the version it carried, and the value (every value of the mirror scenarios is an integer).</summary>
internal sealed record MirrorRead(string Key, long Version, long Value);
