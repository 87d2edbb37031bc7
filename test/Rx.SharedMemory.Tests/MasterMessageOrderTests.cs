using Rx.SharedMemory.Redis;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A master's message comes after every change committed before it was sent, on the wire (a raw worker reports what
/// came in order): with Redis, a change another master committed too.
/// </summary>
public abstract class MasterMessageOrderTests(TestEngine engine) : WorkerProcessTestBase(engine)
{
    [Fact]
    public async Task AMastersMessage_ComesAfterEveryChangeCommittedBeforeItWasSent()
    {
        const int N = 200;
        const int Burst = 100;
        await using var other = this.RedisStore is null ? null : await RedisSharedMemory.StartMasterAsync(this.RedisStore, cancellationToken: this.TimeoutToken);
        var writer = other?.Store ?? this.Master.Store;
        var ready = this.FirstAsync(this.Master.Changes, c => c.Key == "raw-watch/ready");
        var watcher = await this.SpawnAsync("raw-watch", "m/x");
        await ready;

        for (int i = 1; i <= N; i++)
        {
            await writer.SetAsync("m/x", i, this.TimeoutToken);
            if (i % 2 == 0)
            {
                await this.Master.BroadcastAsync(i, this.TimeoutToken);
            }
            else
            {
                await watcher.Worker.SendAsync(i, this.TimeoutToken);
            }
        }

        // Sent together, unawaited, each waiting for its own catch-up with the store: still in the order sent.
        var burst = Enumerable.Range(N + 1, Burst).Select(i => i % 2 == 0 ? this.Master.BroadcastAsync(i, this.TimeoutToken).AsTask() : watcher.Worker.SendAsync(i, this.TimeoutToken).AsTask()).ToList();
        await Task.WhenAll(burst);
        await this.Master.BroadcastAsync("end", this.TimeoutToken);
        var lines = await this.ReportAfterExitAsync(watcher);

        long latest = 0;
        var messages = new List<long>();
        var early = new List<string>();
        foreach (var line in lines.Where(l => l.StartsWith("change ", StringComparison.Ordinal) || l.StartsWith("message ", StringComparison.Ordinal)))
        {
            var (kind, value) = (line[..line.IndexOf(' ')], line[(line.IndexOf(' ') + 1)..]);
            if (kind == "change")
            {
                latest = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (value != "\"end\"")
            {
                long message = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                messages.Add(message);
                if (message <= N && latest < message)
                {
                    early.Add($"message {message} after change {latest}");
                }
            }
        }

        Assert.Equal(Enumerable.Range(1, N + Burst).Select(i => (long)i), messages);
        Assert.Empty(early);
    }
}

/// <summary>The embedded engine: the master's own writes.</summary>
public sealed class MasterMessageOrderTestsInMemory() : MasterMessageOrderTests(TestEngine.Memory);

/// <summary>Redis: another master's writes, which this master learns of from Redis.</summary>
public sealed class MasterMessageOrderTestsRedis() : MasterMessageOrderTests(TestEngine.Redis);
