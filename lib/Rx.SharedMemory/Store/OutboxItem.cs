namespace Rx.SharedMemory.Store;

/// <summary>A change waiting to be delivered to one subscription, or a message waiting for a worker (<see cref="Message"/>).</summary>
/// <param name="SubscriptionId">The subscription it is for.</param>
/// <param name="Change">The change; <see cref="MessageMarker"/> for a message.</param>
/// <param name="Skipped">How many earlier changes to the same key were conflated into this one.</param>
internal readonly record struct OutboxItem(long SubscriptionId, ChangeRecord Change, long Skipped)
{
    /// <summary>The change a message item carries in place of one, so that <see cref="Change"/> is never null.</summary>
    public static readonly ChangeRecord MessageMarker = new(string.Empty, KeyChangeKind.Set, null, 0, default);

    /// <summary>
    /// Gets the number of messages queued on the outbox before this item: changes conflate only with changes of the
    /// same epoch, so that no change committed before a message is delivered after it.
    /// </summary>
    public long Epoch { get; init; }

    /// <summary>Gets a message's JSON, for an item that is a message rather than a change; null for a change.</summary>
    public byte[]? Message { get; init; }

    /// <summary>Gets the bytes the item holds: a message's JSON or a change's value.</summary>
    public long Size => this.Message?.Length ?? this.Change.Value?.Length ?? 0;
}
