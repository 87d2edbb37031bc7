namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>One subscription and every change it saw, which the tests check against the master's record of commits.</summary>
internal sealed class SubscriptionRecord
{
    public int Id { get; set; }

    public string Filter { get; set; } = string.Empty;

    public bool IsPrefix { get; set; }

    public long? FromVersion { get; set; }

    public bool DisposedEarly { get; set; }

    /// <summary>Gets or sets the error the subscription ended with, if it failed (the store unavailable when it began).</summary>
    public string? Error { get; set; }

    /// <summary>Gets or sets the changes seen, in order; guarded by its own lock while the subscription is live.</summary>
    public List<SeenChange> Changes { get; set; } = [];

    internal long LastVersion { get; private set; }

    /// <summary>Gets or sets how many characters of each value to keep, so that the record of large values stays small; null for all.</summary>
    internal int? ValuePrefix { get; set; }

    /// <summary>Records the error a subscription ended with; it saw nothing after it, as a disposed one.</summary>
    public void Fail(Exception error)
    {
        lock (this.Changes)
        {
            this.Error = $"{error.GetType().Name}: {error.Message}";
            this.DisposedEarly = true;
        }
    }

    public void Add(KeyChange change)
    {
        lock (this.Changes)
        {
            this.Changes.Add(new SeenChange(change.Key, change.Kind, change.Version, change.SkippedVersions, change.HasValue ? this.Prefix(change.Value.GetRawText()) : null));
            this.LastVersion = Math.Max(this.LastVersion, change.Version);
        }
    }

    private string Prefix(string value) => this.ValuePrefix is { } length && value.Length > length ? value[..length] : value;
}
