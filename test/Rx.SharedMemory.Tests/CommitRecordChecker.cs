using System.Text.Json;
using Rx.SharedMemory.TestWorker.Scenarios;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Checks what one subscription saw against the master's record of every commit: the initial state (a prefix reset
/// and resets, or one reset of a key) must be the state at some version R, whole and before any change; the changes
/// after it must be matching commits after R, in version order, each once; each must count in its skipped field
/// exactly the matching commits to its key that it stands for (after the last change seen of that key, or after R);
/// and a subscription that lived to the end must end with the last matching commit of every key.
/// </summary>
/// <param name="commits">Every commit, in version order, without a gap.</param>
/// <param name="conflation">Whether the subscriptions may have fallen behind; if not, every skipped count must be 0.</param>
/// <param name="valuePrefix">How many characters of each value's JSON the subscriptions recorded; null for all.</param>
/// <param name="unavailable">Whether a subscription may have failed because the store was unavailable (Redis down).</param>
internal sealed class CommitRecordChecker(IReadOnlyList<KeyChange> commits, bool conflation = false, int? valuePrefix = null, bool unavailable = false)
{
    private readonly Dictionary<long, KeyChange> byVersion = commits.ToDictionary(c => c.Version);

    public int ResumesChecked { get; private set; }

    public int SnapshotsChecked { get; private set; }

    /// <summary>Gets how many subscriptions failed because the store was unavailable, and were checked up to their failure.</summary>
    public int FailuresChecked { get; private set; }

    /// <summary>Gets how many commits the subscriptions checked were told they skipped.</summary>
    public long SkippedChecked { get; private set; }

    /// <summary>Checks that the record is every version from its first to its last, without a gap.</summary>
    public void CheckNoGap() =>
        Assert.Equal(Enumerable.Range((int)commits[0].Version, commits.Count).Select(v => (long)v), commits.Select(c => c.Version));

    /// <summary>Checks that every acknowledged set is a commit of its key and value at its version.</summary>
    public void CheckAcknowledged(IEnumerable<TolerantWriterScenario.Write> writes)
    {
        foreach (var write in writes.Where(w => w.Value is not null))
        {
            Assert.True(this.byVersion.TryGetValue(write.Version, out var commit) && commit.Key == write.Key && commit.GetValue<long>() == write.Value, $"the acknowledged set {write.Key}={write.Value} at {write.Version} is not in the record");
        }
    }

    /// <summary>Checks every subscription the chaos subscribers made.</summary>
    /// <returns>How many subscriptions were checked.</returns>
    public int CheckAll(IEnumerable<ChaosSubscriberScenario.Report> reports)
    {
        int count = 0;
        foreach (var subscription in reports.SelectMany(report => report.Subscriptions))
        {
            this.Check(subscription);
            count++;
        }

        return count;
    }

    public void Check(SubscriptionRecord subscription)
    {
        string filter = subscription.Filter;
        bool isPrefix = subscription.IsPrefix;
        long? from = subscription.FromVersion;
        bool disposedEarly = subscription.DisposedEarly;
        var seen = subscription.Changes.ToArray();
        string what = $"subscription {subscription.Id} to {filter} from {from?.ToString() ?? "now"}";
        if (subscription.Error is { } error)
        {
            Assert.True(unavailable && error.StartsWith(nameof(SharedMemoryUnavailableException), StringComparison.Ordinal), $"{what} failed: {error}");
            this.FailuresChecked++;
        }

        bool Matches(string key) => isPrefix ? key.StartsWith(filter, StringComparison.Ordinal) : key == filter;
        var matching = commits.Where(c => Matches(c.Key)).ToArray();

        if (!conflation)
        {
            Assert.All(seen, c => Assert.Equal(0, c.Skipped));
        }

        var marker = seen.TakeWhile(c => c.Kind == KeyChangeKind.PrefixReset).ToArray();
        var resets = seen.Skip(marker.Length).TakeWhile(c => c.Kind == KeyChangeKind.Reset).ToArray();
        var live = seen[(marker.Length + resets.Length)..];
        Assert.False(live.Any(c => c.Kind is KeyChangeKind.Reset or KeyChangeKind.PrefixReset), $"{what}: a reset came after a change");
        if (seen.Length == 0)
        {
            return;
        }

        // The point R after which changes are live.
        long r;
        if (marker.Length + resets.Length == 0)
        {
            Assert.True(from is not null, $"{what}: a subscription from now must start with its state");
            r = from!.Value;
            this.ResumesChecked++;
        }
        else
        {
            Assert.True(marker.Length == (isPrefix ? 1 : 0), $"{what}: the state of a prefix, and only of a prefix, starts with one prefix reset");
            Assert.All(resets, x => Assert.Equal(0, x.Skipped));
            if (isPrefix)
            {
                r = marker[0].Version;
            }
            else
            {
                // A key's state is one reset: of its value at its version, or of its absence at the store's version.
                Assert.True(resets.Length == 1, $"{what}: the state of a key is one reset; saw {resets.Length}");
                r = resets[0].Version;
            }

            var state = new Dictionary<string, KeyChange>();
            foreach (var commit in matching.Where(c => c.Version <= r))
            {
                state[commit.Key] = commit;
            }

            var expectedResets = state.Values.Where(c => c.Kind == KeyChangeKind.Set).OrderBy(c => c.Version).Select(c => (c.Key, c.Version, this.Text(c.Value))).ToArray();
            var actualResets = resets.Where(x => x.Value is not null).Select(x => (x.Key, x.Version, x.Value!)).ToArray();
            if (!isPrefix)
            {
                Assert.True(
                    resets[0].Value is not null || expectedResets.Length == 0,
                    $"{what}: a reset said absent at {r}, where the key was {string.Join(", ", expectedResets.Select(x => $"{x.Version}={x.Item3}"))}");
            }

            if (live.Length == 0 && disposedEarly)
            {
                // Disposed while the state was arriving: what came must be the start of it.
                expectedResets = expectedResets[..Math.Min(expectedResets.Length, actualResets.Length)];
            }

            Assert.True(expectedResets.SequenceEqual(actualResets), $"{what}: the initial state is not the state at version {r}: expected {string.Join(", ", expectedResets.Select(x => $"{x.Key}@{x.Version}={x.Item3}"))}; saw {string.Join(", ", actualResets.Select(x => $"{x.Key}@{x.Version}={x.Item3}"))}");
            this.SnapshotsChecked++;
        }

        // Each change is a matching commit after R, in version order; it stands for every commit to its key since the
        // last one seen of that key (or R), and counts the others in skipped.
        var lastSeen = new Dictionary<string, long>();
        long previous = r;
        foreach (var change in live)
        {
            Assert.True(change.Version > previous, $"{what}: {change.Kind} {change.Key}@{change.Version} came after version {previous}");
            Assert.True(this.byVersion.TryGetValue(change.Version, out var commit), $"{what}: {change.Key}@{change.Version} is no commit");
            Assert.True(
                commit.Key == change.Key && commit.Kind == change.Kind && (commit.HasValue ? this.Text(commit.Value) : null) == change.Value,
                $"{what}: saw {change.Kind} {change.Key}@{change.Version}={change.Value}; the commit was {commit}");
            long since = lastSeen.GetValueOrDefault(change.Key, r);
            long expected = matching.Count(c => c.Key == change.Key && c.Version > since && c.Version < change.Version);
            Assert.True(expected == change.Skipped, $"{what}: {change.Kind} {change.Key}@{change.Version} says it skipped {change.Skipped}; {expected} commits of the key came since {since}");
            this.SkippedChecked += change.Skipped;
            lastSeen[change.Key] = change.Version;
            previous = change.Version;
        }

        if (!disposedEarly)
        {
            foreach (var last in matching.Where(c => c.Version > r).GroupBy(c => c.Key).Select(g => g.Last()))
            {
                Assert.True(lastSeen.GetValueOrDefault(last.Key) == last.Version, $"{what}: ended at {lastSeen.GetValueOrDefault(last.Key)} for {last.Key}, before its last commit {last.Version}");
            }
        }
    }

    private string Text(JsonElement value)
    {
        string text = value.GetRawText();
        return valuePrefix is { } length && text.Length > length ? text[..length] : text;
    }
}
