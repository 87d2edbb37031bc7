namespace Rx.SharedMemory.Engine;

/// <summary>What the master's observed instruments report of the store an engine keeps, read together.</summary>
/// <param name="Keys">The number of keys.</param>
/// <param name="Bytes">The bytes counted against <see cref="SharedMemoryOptions.MaxBytes"/>.</param>
/// <param name="ChangeLogLength">The number of changes the change log holds for subscribers that resume from a version.</param>
internal sealed record StoreSize(long Keys, long Bytes, long ChangeLogLength);
