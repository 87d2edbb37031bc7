using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>The store's own removals and a slow subscriber's conflations are counted. In the non-parallel collection, since instruments are process-wide.</summary>
[Collection(nameof(Measurements))]
public sealed class MetricsTests : TestBase
{
    [Fact]
    public async Task TheFirstMasterOfAProcess_IsTaggedOne_AndTheSecondTwo()
    {
        // In a fresh process: this one has made masters already.
        var (exitCode, lines) = await this.RunProgramAsync("master-ids");
        Assert.Equal(0, exitCode);
        Assert.Equal(["master.id 1", "master.id 2"], lines);
    }

    [Fact]
    public async Task EvictionsExpiriesAndConflations_AreCounted()
    {
        using var removed = new InstrumentRecorder<long>("rx.sharedmemory.keys.removed");
        using var conflated = new InstrumentRecorder<long>("rx.sharedmemory.changes.conflated");
        await using (var master = new SharedMemoryMaster(new SharedMemoryOptions { MaxEntries = 3 }))
        {
            var expired = new TaskCompletionSource();
            using var watching = master.Changes.Subscribe(c =>
            {
                if (c.Kind == KeyChangeKind.Expired)
                {
                    expired.TrySetResult();
                }
            });
            await master.Store.SetAsync("short-lived", 0, new SetOptions { TimeToLive = TimeSpan.FromMilliseconds(50) }, this.TimeoutToken);
            await expired.Task.WaitAsync(this.TimeoutToken);
            for (int i = 0; i < 5; i++)
            {
                await master.Store.SetAsync($"k{i}", i, this.TimeoutToken);
            }
        }

        var consumerBlocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long outboxConflated;
        using (var outbox = new ChangeOutbox(1, async _ => { consumerBlocked.TrySetResult(); await release.Task; }, NullLogger.Instance))
        {
            outbox.Enqueue(1, new ChangeRecord("k", KeyChangeKind.Set, "0"u8.ToArray(), 1, DateTimeOffset.UnixEpoch));
            await consumerBlocked.Task.WaitAsync(this.TimeoutToken);
            for (int v = 2; v <= 10; v++)
            {
                outbox.Enqueue(1, new ChangeRecord("k", KeyChangeKind.Set, "0"u8.ToArray(), v, DateTimeOffset.UnixEpoch));
            }

            outboxConflated = outbox.Conflated;
            release.SetResult();
        }

        Assert.Equal(1, removed.Measurements.Where(m => m.Tag == "expired").Sum(m => m.Value));
        Assert.Equal(2, removed.Measurements.Where(m => m.Tag == "evicted").Sum(m => m.Value));
        Assert.True(outboxConflated > 0);
        Assert.Equal(outboxConflated, conflated.Measurements.Sum(m => m.Value));
    }

    [Fact]
    public async Task MetricListeners_NeverRunUnderTheStoresLock()
    {
        // One store evicts and expires keys on its callers' threads (its clock's timers never fire), the other
        // expires on its expiry thread.
        var stopped = new TimersStoppedClock();
        using var callers = new KeyValueStore(new SharedMemoryOptions { MaxEntries = 2, TimeProvider = stopped });
        var clock = new FakeTimeProvider();
        using var scheduled = new KeyValueStore(new SharedMemoryOptions { TimeProvider = clock });
        var measured = new ConcurrentQueue<(long Value, string? Reason, bool UnderLock)>();
        var expiredByTheScheduler = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == SharedMemoryMetrics.MeterName && instrument.Name == "rx.sharedmemory.keys.removed")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            measured.Enqueue((value, tags[0].Value as string, callers.IsLockHeldByCurrentThread || scheduled.IsLockHeldByCurrentThread));
            if (Thread.CurrentThread.Name == "Rx.SharedMemory expiry")
            {
                expiredByTheScheduler.TrySetResult();
            }
        });
        listener.Start();

        callers.Set("a", "1"u8.ToArray());
        callers.Set("b", "1"u8.ToArray(), TimeSpan.FromMinutes(1));
        callers.Set("c", "1"u8.ToArray());
        stopped.Advance(TimeSpan.FromMinutes(2));
        Assert.Null(callers.Get("b"));
        scheduled.Set("t", "1"u8.ToArray(), TimeSpan.FromMinutes(1));
        clock.Advance(TimeSpan.FromMinutes(2));
        await expiredByTheScheduler.Task.WaitAsync(this.TimeoutToken);

        Assert.Equal(1, measured.Where(m => m.Reason == "evicted").Sum(m => m.Value));
        Assert.Equal(2, measured.Where(m => m.Reason == "expired").Sum(m => m.Value));
        Assert.DoesNotContain(measured, m => m.UnderLock);
    }

    /// <summary>A fake clock whose timers never fire: keys expire only when read past their deadline.</summary>
    private sealed class TimersStoppedClock : FakeTimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new StoppedTimer();

        private sealed class StoppedTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => default;
        }
    }
}
