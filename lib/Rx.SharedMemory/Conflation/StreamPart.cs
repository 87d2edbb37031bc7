namespace Rx.SharedMemory.Conflation;

/// <summary>
/// What a change is to its stream; changes conflate only with changes of the same part, so that a subscription's
/// starting state arrives whole and before the changes after it (<see cref="StreamParts.Of"/>).
/// </summary>
internal enum StreamPart
{
    /// <summary>A change after the starting state.</summary>
    Change,

    /// <summary>The starting state of a key.</summary>
    Reset,

    /// <summary>The start of a prefix's state, keyed by the prefix: its own part keeps it from conflating with a key of that name.</summary>
    PrefixReset,

    /// <summary>A message between processes in a connection's outbox: never conflated, and a barrier no change conflates across.</summary>
    Message,
}
