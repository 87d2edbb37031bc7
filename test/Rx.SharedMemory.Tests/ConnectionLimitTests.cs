namespace Rx.SharedMemory.Tests;

/// <summary>The per-connection limits on what a worker can make the master keep: subscriptions and waiting lock requests.</summary>
public sealed class ConnectionLimitTests() : WorkerProcessTestBase(new SharedMemoryOptions { MaxSubscriptionsPerConnection = 100, MaxWaitingLocksPerConnection = 5 })
{
    [Fact]
    public async Task SubscriptionsPastTheLimit_FailInTheWorker_AsLimitExceeded_NamingTheLimit_AndEndedOnesMakeRoom()
    {
        var report = await this.ReportAfterExitAsync(await this.SpawnAsync("subscribe-many", "many/key", "150"));

        Assert.Contains("100 started", report);
        var refused = Assert.Single(report, l => l.StartsWith("50 refused ", StringComparison.Ordinal));
        Assert.StartsWith("50 refused MaxSubscriptionsPerConnection 100 101 many/key: ", refused, StringComparison.Ordinal);
        Assert.Contains("MaxSubscriptionsPerConnection = 100", refused, StringComparison.Ordinal);
        Assert.Contains("again 10 started", report);
        Assert.Equal(2, report.Count(l => l.EndsWith(" started", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task LockRequestsWaitingPastTheLimit_FailAtOnce_AsLimitExceeded_NamingTheLimit()
    {
        var holder = await this.SpawnReadyAsync("hold", "busy");

        var report = await this.ReportAfterExitAsync(await this.SpawnAsync("lock-waits", "busy", "20"));

        // Five wait (and time out, the lock being held throughout); the fifteen past them are refused at once.
        Assert.Contains("5 timed out", report);
        Assert.Contains("15 refused MaxWaitingLocksPerConnection 5 6", report);
        Assert.Equal(3, report.Length);
        holder.Worker.Kill();
    }
}
