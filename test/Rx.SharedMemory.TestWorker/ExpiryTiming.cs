using Rx.SharedMemory.Redis;

namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// Keys whose deadlines are spread over two seconds: reports how late each Expired change was committed (its
/// timestamp) and received by an observer of <see cref="SharedMemoryMaster.Changes"/>, against its deadline. Usage:
/// <c>expiry-timing &lt;report&gt; [redis configuration]</c>: 100,000 keys in the embedded engine, or 20,000 in a store of
/// its own in that Redis (each write a round trip, so the keys are written in seconds there too).
/// </summary>
internal static class ExpiryTiming
{
    public static async Task RunAsync(Report report, string[] arguments)
    {
        int keys = arguments.Length == 0 ? 100_000 : 20_000;
        await using var master = arguments.Length == 0
            ? new SharedMemoryMaster()
            : await RedisSharedMemory.StartMasterAsync(new RedisStoreOptions { Configuration = arguments[0], StoreName = $"expiry-timing-{Guid.NewGuid():N}" });

        // A first pass without deadlines warms up and measures how fast this machine writes now, so that the first
        // deadline falls after the last write however loaded the machine is (twice that time, and half a second).
        var firstPass = DateTimeOffset.UtcNow;
        for (int i = 0; i < keys; i++)
        {
            await master.Store.SetAsync($"k/{i}", i);
        }

        var offset = TimeSpan.FromSeconds(0.5) + (2 * (DateTimeOffset.UtcNow - firstPass));
        report.Line(FormattableString.Invariant($"offset {offset.TotalMilliseconds:F0} ms"));
        var start = DateTimeOffset.UtcNow;
        var deadlines = new DateTimeOffset[keys];
        for (int i = 0; i < keys; i++)
        {
            deadlines[i] = start + offset + (TimeSpan.FromSeconds(2) * i / keys);
        }

        var committed = new double[keys];
        var received = new double[keys];
        int expired = 0;
        var allExpired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = master.Changes.Subscribe(change =>
        {
            if (change.Kind == KeyChangeKind.Expired)
            {
                int i = int.Parse(change.Key.AsSpan(2), provider: System.Globalization.CultureInfo.InvariantCulture);
                received[i] = (DateTimeOffset.UtcNow - deadlines[i]).TotalMilliseconds;
                committed[i] = (change.Timestamp - deadlines[i]).TotalMilliseconds;
                if (++expired == keys)
                {
                    allExpired.SetResult();
                }
            }
        });

        for (int i = 0; i < keys; i++)
        {
            // Each key's own deadline, whenever its write happens.
            await master.Store.SetAsync($"k/{i}", i, new SetOptions { TimeToLive = deadlines[i] - DateTimeOffset.UtcNow });
        }

        report.Line($"written {(DateTimeOffset.UtcNow - start).TotalMilliseconds:F0} ms");

        // The control: a thread of the same process asking to wake every millisecond through the same window, busy
        // half a millisecond between its sleeps as the expiry thread is busy removing keys (the kernel's scheduler
        // serves a thread that used the processor after one that slept). How late it wakes is the machine's own
        // scheduling delay, which no expiry can beat.
        double controlLateness = 0;
        var control = new Thread(() =>
        {
            while (!allExpired.Task.IsCompleted)
            {
                long busy = System.Diagnostics.Stopwatch.GetTimestamp();
                while (System.Diagnostics.Stopwatch.GetElapsedTime(busy).TotalMilliseconds < 0.5)
                {
                    Thread.SpinWait(20);
                }

                long before = System.Diagnostics.Stopwatch.GetTimestamp();
                Thread.Sleep(1);
                controlLateness = Math.Max(controlLateness, System.Diagnostics.Stopwatch.GetElapsedTime(before).TotalMilliseconds - 1);
            }
        })
        { IsBackground = true, Name = "control" };
        control.Start();
        await allExpired.Task.WaitAsync(TimeSpan.FromSeconds(60));
        control.Join();
        report.Line(FormattableString.Invariant($"control {controlLateness:F1}"));
        report.Line($"left {master.Count}");
        Line("committed", committed);
        Line("received", received);

        void Line(string name, double[] lateness)
        {
            Array.Sort(lateness);
            report.Line(FormattableString.Invariant($"{name} {lateness[0]:F1} {lateness[keys / 2]:F1} {lateness[keys * 99 / 100]:F1} {lateness[^1]:F1}"));
        }
    }
}
