namespace Rx.SharedMemory.Conflation;

/// <summary>Which <see cref="StreamPart"/> a change is, for every queue that conflates changes: the master's outboxes, a worker's inbox, an enumeration's buffer.</summary>
internal static class StreamParts
{
    /// <summary>Gets what a change of <paramref name="kind"/> is to its stream.</summary>
    public static StreamPart Of(KeyChangeKind kind) => kind switch
    {
        KeyChangeKind.Reset => StreamPart.Reset,
        KeyChangeKind.PrefixReset => StreamPart.PrefixReset,
        _ => StreamPart.Change,
    };
}
