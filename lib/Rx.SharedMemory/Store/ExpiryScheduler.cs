namespace Rx.SharedMemory.Store;

/// <summary>
/// Runs the store's expiry pass on a thread of its own when the soonest deadline comes, as told by the store's
/// <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// A thread of its own rather than a thread-pool timer: expiry must stay on time when the pool is busy or starved
/// (measured: a pool timer fell 800 ms behind under a test host), and one thread that sleeps until the next deadline
/// costs nothing while no key has a time to live. With <see cref="TimeProvider.System"/> the thread times its own
/// waits, for that reason. With any other clock it waits for a timer of that clock (<see cref="TimeProvider.CreateTimer"/>),
/// which wakes it: so a fake clock drives expiry, exactly when it passes a deadline, and the wall clock plays no part.
/// </remarks>
internal sealed class ExpiryScheduler : IDisposable
{
    // System.Threading.Timer refuses longer; a deadline further away is waited for in steps.
    private static readonly TimeSpan LongestTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly TimeProvider time;
    private readonly Action runPass;
    private readonly bool timesItself;

    // The monitor the expiry thread waits on, and the guard of the fields below; never held while calling out.
    private readonly object wake = new();

    // Guarded by wake: the deadline (UTC ticks) the thread waits for; long.MaxValue for none.
    private long armed = long.MaxValue;

    // Guarded by wake: a pass is wanted now (an earlier deadline, or the clock's timer fired).
    private bool wakeRequested;

    // Guarded by wake.
    private bool stopping;

    // Guarded by wake: started on the first deadline.
    private Thread? thread;

    // Used by the expiry thread only, then by Dispose once the thread has ended.
    private ITimer? timer;

    /// <param name="time">The clock that says when a deadline has come.</param>
    /// <param name="runPass">
    /// Expires what is due, and reports the next deadline with <see cref="Rearm"/> under the same lock as the
    /// <see cref="Schedule"/> calls, so that none is missed between the two.
    /// </param>
    public ExpiryScheduler(TimeProvider time, Action runPass)
    {
        this.time = time;
        this.runPass = runPass;
        this.timesItself = ReferenceEquals(time, TimeProvider.System);
    }

    /// <summary>Makes sure a pass runs when <paramref name="deadline"/> (UTC ticks) comes; starts the thread on first use.</summary>
    public void Schedule(long deadline)
    {
        lock (this.wake)
        {
            if (deadline >= this.armed || this.stopping)
            {
                return;
            }

            this.armed = deadline;
            if (this.thread is null)
            {
                // Without the context of the write that set the first deadline: the thread runs for every later one,
                // and its changes belong to no caller's trace.
                this.thread = new Thread(this.Run) { IsBackground = true, Name = "Rx.SharedMemory expiry" };
                this.thread.UnsafeStart();
            }
            else
            {
                this.wakeRequested = true;
                Monitor.Pulse(this.wake);
            }
        }
    }

    /// <summary>Sets the deadline the next pass is due at, once a pass has expired what was due.</summary>
    public void Rearm(long nextDeadline)
    {
        lock (this.wake)
        {
            this.armed = nextDeadline;
        }
    }

    public void Dispose()
    {
        Thread? running;
        lock (this.wake)
        {
            this.stopping = true;
            running = this.thread;
            Monitor.Pulse(this.wake);
        }

        running?.Join();
        this.timer?.Dispose();
    }

    private void Run()
    {
        while (true)
        {
            this.runPass();
            long deadline;
            lock (this.wake)
            {
                if (this.stopping)
                {
                    return;
                }

                if (this.wakeRequested)
                {
                    this.wakeRequested = false;
                    continue;
                }

                deadline = this.armed;
            }

            this.WaitFor(deadline);
        }
    }

    /// <summary>Waits until <paramref name="deadline"/> (UTC ticks) comes by the clock, or until woken.</summary>
    private void WaitFor(long deadline)
    {
        long ticks = deadline == long.MaxValue ? -1 : Math.Max(0, deadline - this.time.GetUtcNow().UtcTicks);
        if (ticks == 0)
        {
            return;
        }

        if (this.timesItself)
        {
            // Rounded up to whole milliseconds, so that keys due close together expire in one pass.
            this.Wait(ticks < 0 ? Timeout.Infinite : (int)Math.Min(int.MaxValue, (ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond));
            return;
        }

        // Set outside the monitor: a clock may run the callback at once, on this thread or another.
        this.timer ??= this.time.CreateTimer(static state => ((ExpiryScheduler)state!).Wake(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        if (ticks < 0)
        {
            this.timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
        else
        {
            this.ArmTimerFor(deadline);
        }

        this.Wait(Timeout.Infinite);
    }

    /// <summary>Sets the clock's timer to fire when <paramref name="deadline"/> (UTC ticks) comes, and not later.</summary>
    /// <remarks>
    /// A timer takes a period, counted from the clock's time when it is set: if the clock moves on between reading it
    /// and setting the timer (a test advancing a fake clock from another thread), the timer would fire that much after
    /// the deadline, or never if the clock then stands still until the expiry comes. So the timer is set again, for
    /// what is left, until the clock reads the same before and after. A few rounds at most: a fake clock moves only
    /// when told, and a real one leaves the timer late by the microseconds of the last round.
    /// </remarks>
    private void ArmTimerFor(long deadline)
    {
        long before = this.time.GetUtcNow().UtcTicks;
        for (int round = 0; round < 8 && before < deadline; round++)
        {
            this.timer!.Change(TimeSpan.FromTicks(Math.Min(deadline - before, LongestTimer.Ticks)), Timeout.InfiniteTimeSpan);
            long after = this.time.GetUtcNow().UtcTicks;
            if (after == before)
            {
                return;
            }

            before = after;
        }

        if (before >= deadline)
        {
            // The deadline came while the timer was set: the pass runs now.
            this.Wake();
        }
    }

    /// <summary>Waits until woken or for <paramref name="milliseconds"/>, whichever comes first.</summary>
    private void Wait(int milliseconds)
    {
        lock (this.wake)
        {
            if (!this.wakeRequested && !this.stopping)
            {
                Monitor.Wait(this.wake, milliseconds);
            }

            this.wakeRequested = false;
        }
    }

    private void Wake()
    {
        lock (this.wake)
        {
            this.wakeRequested = true;
            Monitor.Pulse(this.wake);
        }
    }
}
