using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>The expiry thread under a clock that other threads move: its pass runs when the deadline comes, never later.</summary>
public sealed class ExpirySchedulerTests : TestBase
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task ClockMovedWhileTheTimerIsSet_PassStillRunsAtTheDeadline()
    {
        // The clock moves 5 minutes between the thread reading it and setting its timer, as a test thread advancing a
        // fake clock may: a timer set for the 10 minutes read would fire at 15, and the clock below stops at 10.
        var clock = new ClockMovingAsTheTimerIsSet(Start, TimeSpan.FromMinutes(5));
        long deadline = (Start + TimeSpan.FromMinutes(10)).UtcTicks;
        var due = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ExpiryScheduler? scheduler = null;
        scheduler = new ExpiryScheduler(clock, () =>
        {
            bool reached = clock.GetUtcNow().UtcTicks >= deadline;
            scheduler!.Rearm(reached ? long.MaxValue : deadline);
            if (reached)
            {
                due.TrySetResult();
            }
        });

        using (scheduler)
        {
            scheduler.Schedule(deadline);
            await clock.TimerSet.WaitAsync(this.TimeoutToken);
            Assert.False(due.Task.IsCompleted, "The pass ran before the deadline");

            clock.SetUtcNow(Start + TimeSpan.FromMinutes(10));
            await due.Task.WaitAsync(this.TimeoutToken);
        }
    }

    [Fact]
    public async Task Pass_RunsOutsideTheContextOfTheWriteThatStartedTheThread()
    {
        // The thread starts with the first deadline, and expires every later key too: not in that first writer's activity.
        var clock = new FakeTimeProvider(Start);
        var ran = new TaskCompletionSource<Activity?>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var scheduler = new ExpiryScheduler(clock, () => ran.TrySetResult(Activity.Current));
        using (new Activity("writer").Start())
        {
            scheduler.Schedule((Start + TimeSpan.FromMinutes(1)).UtcTicks);
        }

        Assert.Null(await ran.Task.WaitAsync(this.TimeoutToken));
    }

    /// <summary>A fake clock that moves on by <c>step</c> the first time a timer of it is set, before the timer takes its period.</summary>
    private sealed class ClockMovingAsTheTimerIsSet(DateTimeOffset start, TimeSpan step) : FakeTimeProvider(start)
    {
        private readonly TaskCompletionSource timerSet = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private readonly TimeSpan step = step;

        public Task TimerSet => this.timerSet.Task;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            new MovingTimer(this, base.CreateTimer(callback, state, dueTime, period));

        private sealed class MovingTimer(ClockMovingAsTheTimerIsSet clock, ITimer inner) : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                bool first = dueTime != Timeout.InfiniteTimeSpan && !clock.timerSet.Task.IsCompleted;
                if (first)
                {
                    clock.Advance(clock.step);
                }

                bool changed = inner.Change(dueTime, period);
                if (first)
                {
                    clock.timerSet.TrySetResult();
                }

                return changed;
            }

            public void Dispose() => inner.Dispose();

            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }
}
