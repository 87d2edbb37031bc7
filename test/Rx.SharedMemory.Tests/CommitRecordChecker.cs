using System.Text.Json;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Checks what one subscription saw against the master's record of every commit: the initial state (resets) must be
/// the state at some version R, and the live changes must be exactly the matching commits after R, in order, each
/// once; a subscription that lived to the end must end with the last matching commit.
/// </summary>
internal sealed class CommitRecordChecker(IReadOnlyList<KeyChange> commits)
{
    public int ResumesChecked { get; private set; }

    public int SnapshotsChecked { get; private set; }

    public void Check(JsonElement subscription)
    {
        string filter = subscription.GetProperty("Filter").GetString()!;
        bool isPrefix = subscription.GetProperty("IsPrefix").GetBoolean();
        long? from = subscription.GetProperty("FromVersion").ValueKind == JsonValueKind.Null ? null : subscription.GetProperty("FromVersion").GetInt64();
        bool disposedEarly = subscription.GetProperty("DisposedEarly").GetBoolean();
        var seen = subscription.GetProperty("Changes").EnumerateArray().Select(c => (
            Key: c.GetProperty("Key").GetString()!,
            Kind: c.GetProperty("Kind").GetString()!,
            Version: c.GetProperty("Version").GetInt64(),
            Skipped: c.GetProperty("Skipped").GetInt64(),
            Value: c.GetProperty("Value").ValueKind == JsonValueKind.Null ? null : c.GetProperty("Value").GetString())).ToArray();
        string what = $"subscription {subscription.GetProperty("Id").GetInt32()} to {filter} from {from?.ToString() ?? "now"}";

        bool Matches(string key) => isPrefix ? key.StartsWith(filter, StringComparison.Ordinal) : key == filter;
        var matching = commits.Where(c => Matches(c.Key)).ToArray();

        Assert.All(seen, c => Assert.Equal(0, c.Skipped));
        var marker = seen.TakeWhile(c => c.Kind == "PrefixReset").ToArray();
        var resets = seen.Skip(marker.Length).TakeWhile(c => c.Kind == "Reset").ToArray();
        var live = seen[(marker.Length + resets.Length)..];
        Assert.DoesNotContain(live, c => c.Kind is "Reset" or "PrefixReset");
        if (seen.Length == 0)
        {
            return;
        }

        // The point R after which changes are live.
        long r;
        if (marker.Length + resets.Length == 0 && from is { } resumedFrom)
        {
            r = resumedFrom;
            this.ResumesChecked++;
        }
        else
        {
            Assert.True(marker.Length == (isPrefix ? 1 : 0), $"{what}: the state of a prefix, and only of a prefix, starts with one prefix reset");
            long firstLive = live.Length > 0 ? live[0].Version : long.MaxValue;
            r = isPrefix ? marker[0].Version : matching.Where(c => c.Version < firstLive).Select(c => c.Version).DefaultIfEmpty(0).Max();
            if (!isPrefix && live.Length == 0 && disposedEarly)
            {
                // Disposed before anything live arrived: R is unknown, but the reset must be a real commit.
                foreach (var reset in resets.Where(x => x.Value is not null))
                {
                    Assert.Contains(commits, c => c.Key == reset.Key && c.Version == reset.Version && c.Kind == KeyChangeKind.Set && c.Value.GetRawText() == reset.Value);
                }

                return;
            }

            var state = new Dictionary<string, KeyChange>();
            foreach (var commit in matching.Where(c => c.Version <= r))
            {
                state[commit.Key] = commit;
            }

            var expectedResets = state.Values.Where(c => c.Kind == KeyChangeKind.Set).OrderBy(c => c.Version).Select(c => (c.Key, c.Version, c.Value.GetRawText())).ToArray();
            var actualResets = resets.Where(x => x.Value is not null).Select(x => (x.Key, x.Version, x.Value!)).ToArray();
            if (live.Length == 0 && disposedEarly)
            {
                // Disposed while the state was arriving: what came must be the start of it.
                expectedResets = expectedResets[..Math.Min(expectedResets.Length, actualResets.Length)];
            }

            Assert.True(expectedResets.SequenceEqual(actualResets), $"{what}: the initial state is not the state at version {r}: expected {string.Join(", ", expectedResets.Select(x => $"{x.Key}@{x.Version}={x.Item3}"))}; saw {string.Join(", ", actualResets.Select(x => $"{x.Key}@{x.Version}={x.Item3}"))}");
            this.SnapshotsChecked++;
        }

        long lastLive = live.Length > 0 ? live[^1].Version : r;
        var expectedLive = matching.Where(c => c.Version > r && c.Version <= lastLive)
            .Select(c => (c.Key, c.Kind.ToString(), c.Version, c.HasValue ? c.Value.GetRawText() : null)).ToArray();
        var actualLive = live.Select(c => (c.Key, c.Kind, c.Version, c.Value)).ToArray();
        Assert.True(expectedLive.SequenceEqual(actualLive), $"{what}: live changes differ from the commits after {r}: expected {expectedLive.Length}, saw {actualLive.Length}");
        if (!disposedEarly && matching.Length > 0)
        {
            Assert.True(lastLive >= matching[^1].Version, $"{what}: ended at {lastLive}, before the last matching commit {matching[^1].Version}");
        }
    }
}
