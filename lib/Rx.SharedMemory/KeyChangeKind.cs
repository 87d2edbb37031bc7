namespace Rx.SharedMemory;

/// <summary>What happened to a key.</summary>
public enum KeyChangeKind
{
    /// <summary>The key was written; <see cref="KeyChange.Value"/> holds the new value.</summary>
    Set,

    /// <summary>The key was deleted.</summary>
    Deleted,

    /// <summary>The key's time to live ran out and it was removed.</summary>
    Expired,

    /// <summary>The key was removed to keep the store within its memory limits.</summary>
    Evicted,

    /// <summary>
    /// The current state of a key, sent instead of individual changes: when a subscription starts without a
    /// version to resume from, or resumes from a version older than the master's change log.
    /// <see cref="KeyChange.Exists"/> (and <see cref="KeyChange.HasValue"/>) is <see langword="false"/> when the key does
    /// not exist; <see cref="KeyChange.Version"/> is then the store version at which it was found absent.
    /// </summary>
    Reset,

    /// <summary>
    /// Starts the current state of a prefix subscription (see <see cref="Reset"/>): <see cref="KeyChange.Key"/> is the
    /// prefix and <see cref="KeyChange.Version"/> the store version the state is taken at. Forget what you hold under
    /// the prefix: the <see cref="Reset"/> changes that follow are every key that exists under it, and keys not among
    /// them are absent.
    /// </summary>
    PrefixReset,
}
