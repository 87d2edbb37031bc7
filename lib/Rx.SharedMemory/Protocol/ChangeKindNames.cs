namespace Rx.SharedMemory.Protocol;

/// <summary>How <see cref="KeyChangeKind"/> is spelled on the wire.</summary>
internal static class ChangeKindNames
{
    public static string ToWire(KeyChangeKind kind) => kind switch
    {
        KeyChangeKind.Set => "set",
        KeyChangeKind.Deleted => "deleted",
        KeyChangeKind.Expired => "expired",
        KeyChangeKind.Evicted => "evicted",
        KeyChangeKind.Reset => "reset",
        KeyChangeKind.PrefixReset => "prefixReset",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown change kind."),
    };

    public static KeyChangeKind FromWire(string kind) => kind switch
    {
        "set" => KeyChangeKind.Set,
        "deleted" => KeyChangeKind.Deleted,
        "expired" => KeyChangeKind.Expired,
        "evicted" => KeyChangeKind.Evicted,
        "reset" => KeyChangeKind.Reset,
        "prefixReset" => KeyChangeKind.PrefixReset,
        _ => throw new FormatException($"Unknown change kind '{kind}'."),
    };
}
