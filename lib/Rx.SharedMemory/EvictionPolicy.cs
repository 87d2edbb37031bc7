namespace Rx.SharedMemory;

/// <summary>What the master does when a write would take the store past <see cref="SharedMemoryOptions.MaxEntries"/> or <see cref="SharedMemoryOptions.MaxBytes"/>.</summary>
public enum EvictionPolicy
{
    /// <summary>Removes the least recently used keys (read or written) until the store fits, publishing an <see cref="KeyChangeKind.Evicted"/> change for each.</summary>
    LeastRecentlyUsed,

    /// <summary>Refuses the write with <see cref="SharedMemoryLimitExceededException"/>; nothing is removed.</summary>
    NoEviction,
}
