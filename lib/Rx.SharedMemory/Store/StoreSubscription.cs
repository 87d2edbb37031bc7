namespace Rx.SharedMemory.Store;

/// <summary>A registration of interest in one key or one prefix, feeding an outbox.</summary>
internal sealed class StoreSubscription(long id, string keyOrPrefix, bool isPrefix, ChangeOutbox outbox)
{
    private volatile bool retired;

    public long Id { get; } = id;

    public string KeyOrPrefix { get; } = keyOrPrefix;

    public bool IsPrefix { get; } = isPrefix;

    public ChangeOutbox Outbox { get; } = outbox;

    /// <summary>Gets whether the subscription was removed: its outbox takes nothing more for it.</summary>
    public bool IsRetired => this.retired;

    /// <summary>Gets or sets the group of the index that holds it, null when it is not registered; guarded by the store's lock.</summary>
    internal SubscriptionIndex.Group? Group { get; set; }

    /// <summary>Gets or sets its position in <see cref="Group"/>; guarded by the store's lock.</summary>
    internal int Slot { get; set; }

    public bool Matches(string key) => this.IsPrefix ? key.StartsWith(this.KeyOrPrefix, StringComparison.Ordinal) : key == this.KeyOrPrefix;

    /// <summary>Marks the subscription removed; called once the index no longer holds it, before its outbox drops what it holds for it.</summary>
    public void Retire() => this.retired = true;
}
