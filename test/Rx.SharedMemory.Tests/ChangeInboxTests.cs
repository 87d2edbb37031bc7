using System.Diagnostics;
using System.Reactive;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Rx.SharedMemory.Worker;

namespace Rx.SharedMemory.Tests;

public sealed class ChangeInboxTests : TestBase
{
    [Fact]
    public async Task StuckObserver_DoesNotHoldUpTheReader_AndGetsTheWholeStartingState_ThenTheLatestOfEachKey_WithSkipCounts()
    {
        using var stuck = new ManualResetEventSlim();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new List<KeyChange>();
        var token = this.TimeoutToken;
        var subscription = new RemoteSubscription(7, Observer.Create<KeyChange>(change =>
        {
            entered.TrySetResult();
            stuck.Wait(token);
            seen.Add(change);
            if (change.Version == 1_000)
            {
                done.TrySetResult();
            }
        }));
        var inbox = new ChangeInbox(capacity: 3, maxBytes: long.MaxValue, _ => { }, NullLogger.Instance);

        inbox.Enqueue(subscription, Change("p/", KeyChangeKind.PrefixReset, 10));
        await entered.Task.WaitAsync(this.TimeoutToken);
        inbox.Enqueue(subscription, Change("p/a", KeyChangeKind.Reset, 3));
        inbox.Enqueue(subscription, Change("p/b", KeyChangeKind.Reset, 5));
        for (int v = 11; v <= 1_000; v++)
        {
            // Returns at once although the observer is stuck: the reader of the pipe goes on.
            inbox.Enqueue(subscription, Change(v % 2 == 0 ? "p/a" : "p/b", KeyChangeKind.Set, v));
        }

        Assert.InRange(inbox.Count, 0, 3 + 2);
        stuck.Set();
        await done.Task.WaitAsync(this.TimeoutToken);

        Assert.Equal([KeyChangeKind.PrefixReset, KeyChangeKind.Reset, KeyChangeKind.Reset], seen.Take(3).Select(c => c.Kind));
        Assert.All(seen.Take(3), c => Assert.Equal(0, c.SkippedVersions));
        Assert.Equal([999L, 1_000], seen.TakeLast(2).Select(c => c.Version));
        Assert.Equal(1_000 - 10, seen.Skip(3).Sum(c => 1 + c.SkippedVersions));
        Assert.True(seen.Skip(3).Zip(seen.Skip(4)).All(p => p.First.Version < p.Second.Version), "changes must come in version order");
    }

    [Fact]
    public async Task Observer_RunsOutsideTheContextOfTheReaderThatQueuedTheChange()
    {
        var observed = new TaskCompletionSource<Activity?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscription = new RemoteSubscription(1, Observer.Create<KeyChange>(_ => observed.TrySetResult(Activity.Current)));
        var inbox = new ChangeInbox(capacity: 10, maxBytes: long.MaxValue, _ => { }, NullLogger.Instance);
        using (new Activity("reader").Start())
        {
            inbox.Enqueue(subscription, Change("k", KeyChangeKind.Set, 1));
        }

        Assert.Null(await observed.Task.WaitAsync(this.TimeoutToken));
    }

    private static KeyChange Change(string key, KeyChangeKind kind, long version) =>
        new(key, kind, version, DateTimeOffset.UnixEpoch, kind == KeyChangeKind.PrefixReset ? null : JsonElement.Parse("1"), 0);
}
