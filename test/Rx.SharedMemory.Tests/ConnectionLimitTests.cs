namespace Rx.SharedMemory.Tests;

/// <summary>The per-connection limits on what a worker can make the master keep: subscriptions and waiting lock requests.</summary>
public sealed class ConnectionLimitTests() : WorkerProcessTestBase(new SharedMemoryOptions { MaxSubscriptionsPerConnection = 100, MaxWaitingLocksPerConnection = 5 })
{
    [Fact]
    public async Task SubscriptionsPastTheLimit_FailInTheWorker_AsLimitExceeded_NamingTheLimit_AndEndedOnesMakeRoom()
    {
        var report = await this.ReportAfterExitAsync<SubscribeManyScenario.Report>(await this.SpawnAsync("subscribe-many", "many/key", "150"));

        Assert.Contains(new Counted<Outcome>(100, Outcome.Succeeded), report.Outcomes);
        var refused = Assert.Single(report.Outcomes, o => o.Value != Outcome.Succeeded);
        Assert.Equal(50, refused.Count);
        Assert.Equal(
            (nameof(SharedMemoryLimitExceededException), "MaxSubscriptionsPerConnection", 100L, 101L, "many/key"),
            (refused.Value.Exception, refused.Value.LimitName, refused.Value.Limit, refused.Value.Actual, refused.Value.LimitKey));
        Assert.Contains("MaxSubscriptionsPerConnection = 100", refused.Value.Message, StringComparison.Ordinal);
        Assert.Equal(10, report.AgainStarted);
        Assert.Equal(2, report.Outcomes.Length);
    }

    [Fact]
    public async Task LockRequestsWaitingPastTheLimit_FailAtOnce_AsLimitExceeded_NamingTheLimit()
    {
        var holder = await this.SpawnReadyAsync("hold", "busy");

        var report = await this.ReportAfterExitAsync<LockWaitsScenario.Report>(await this.SpawnAsync("lock-waits", "busy", "20"));

        // Five wait (and time out, the lock being held throughout); the fifteen past them are refused at once.
        Assert.Contains(new Counted<LockWaitsScenario.Wait>(5, new(LockWaitsScenario.WaitResult.TimedOut)), report.Outcomes);
        Assert.Contains(new Counted<LockWaitsScenario.Wait>(15, new(LockWaitsScenario.WaitResult.Refused, "MaxWaitingLocksPerConnection", 5, 6)), report.Outcomes);
        Assert.Equal(2, report.Outcomes.Length);
        holder.Worker.Kill();
    }
}
