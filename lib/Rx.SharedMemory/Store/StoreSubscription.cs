namespace Rx.SharedMemory.Store;

/// <summary>A registration of interest in one key or one prefix, feeding an outbox.</summary>
internal sealed class StoreSubscription(long id, string keyOrPrefix, bool isPrefix, ChangeOutbox outbox)
{
    public long Id { get; } = id;

    public string KeyOrPrefix { get; } = keyOrPrefix;

    public bool IsPrefix { get; } = isPrefix;

    public ChangeOutbox Outbox { get; } = outbox;

    public bool Matches(string key) => this.IsPrefix ? key.StartsWith(this.KeyOrPrefix, StringComparison.Ordinal) : key == this.KeyOrPrefix;
}
