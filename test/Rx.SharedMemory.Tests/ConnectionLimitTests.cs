namespace Rx.SharedMemory.Tests;

/// <summary>The per-connection limits on what a worker can make the master keep: subscriptions, waiting lock requests and held locks.</summary>
public sealed class ConnectionLimitTests() : WorkerProcessTestBase(new SharedMemoryOptions { MaxSubscriptionsPerConnection = 100, MaxWaitingLocksPerConnection = 5, MaxHeldLocksPerConnection = 10 })
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

    [Fact]
    public async Task LocksHeldPastTheLimit_AreRefused_NamingTheLimit_AndAReleaseMakesRoom()
    {
        var report = await this.ReportAfterExitAsync<HoldManyScenario.Report>(await this.SpawnAsync("hold-many", "many/", "12"));

        // Ten held; the two asked for while ten were held refused at once, the store's memory untouched by them.
        Assert.Contains(new Counted<LockWaitsScenario.Wait>(10, new(LockWaitsScenario.WaitResult.Granted)), report.Outcomes);
        Assert.Contains(new Counted<LockWaitsScenario.Wait>(2, new(LockWaitsScenario.WaitResult.Refused, "MaxHeldLocksPerConnection", 10, 11)), report.Outcomes);
        Assert.Equal(2, report.Outcomes.Length);
        Assert.Equal(new LockWaitsScenario.Wait(LockWaitsScenario.WaitResult.Granted), report.Again);
    }
}
