using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Rx.SharedMemory.Redis;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A local three-node Redis Cluster (three redis-server processes, each with a third of the slots): each store lives
/// in the one slot of its hash tag, so several stores spread over the nodes, and each works as on one server.
/// </summary>
[Collection(nameof(Measurements))]
public sealed class RedisClusterTests(ITestOutputHelper output) : TestBase, IAsyncLifetime
{
    private readonly RedisServer[] nodes = [.. Enumerable.Range(0, 3).Select(_ => RedisServer.Start("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"))];

    private string Configuration => string.Join(",", this.nodes.Select(n => n.Configuration));

    public async Task InitializeAsync()
    {
        // The slots split in three, one node each, as redis-cli does for any cluster.
        var create = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["--cluster", "create", .. this.nodes.Select(n => n.Configuration), "--cluster-replicas", "0", "--cluster-yes"])
        {
            create.ArgumentList.Add(argument);
        }

        using (var cli = Process.Start(create)!)
        {
            string said = await cli.StandardOutput.ReadToEndAsync(this.TimeoutToken) + await cli.StandardError.ReadToEndAsync(this.TimeoutToken);
            await cli.WaitForExitAsync(this.TimeoutToken);
            Assert.True(cli.ExitCode == 0, $"redis-cli --cluster create failed: {said}");
        }

        // Every node agrees that the cluster is whole before a client connects.
        await using var redis = await ConnectionMultiplexer.ConnectAsync(this.nodes[0].Configuration + ",allowAdmin=true");
        foreach (var node in this.nodes)
        {
            var server = redis.GetServer(node.Configuration);
            while (!((string?)await server.ExecuteAsync("CLUSTER", "INFO"))!.Contains("cluster_state:ok", StringComparison.Ordinal))
            {
                await Task.Delay(100, this.TimeoutToken);
            }
        }
    }

    public Task DisposeAsync()
    {
        foreach (var node in this.nodes)
        {
            node.Dispose();
        }

        return Task.CompletedTask;
    }

    [Fact]
    public async Task StoresSpreadOverThreeNodes_EachSharedByTwoMasters_WithChangesAndAtomicIncrements()
    {
        // A store name per node: the slot of "{name}" decides where all of its keys live.
        await using var probe = await ConnectionMultiplexer.ConnectAsync(this.Configuration);
        var names = new Dictionary<EndPoint, string>();
        for (int i = 0; names.Count < 3; i++)
        {
            string name = $"cluster-{i}";
            var node = (await probe.GetDatabase().IdentifyEndpointAsync($"{{{name}}}"))!;
            names.TryAdd(node, name);
        }

        foreach (var (node, name) in names)
        {
            var store = new RedisStoreOptions { Configuration = this.Configuration, StoreName = name };
            await using var first = await RedisSharedMemory.StartMasterAsync(store, cancellationToken: this.TimeoutToken);
            await using var second = await RedisSharedMemory.StartMasterAsync(store, cancellationToken: this.TimeoutToken);
            var seen = first.Store.Observe("k").Replay();
            using var recording = seen.Connect();

            // Subscribed (its state, the key absent, has come) before the write: the write comes as a change.
            await seen.FirstAsync().ToTask(this.TimeoutToken);
            long version = await second.Store.SetAsync("k", name, this.TimeoutToken);
            var change = await seen.FirstAsync(c => c.Kind == KeyChangeKind.Set).ToTask(this.TimeoutToken);
            Assert.Equal((name, version), (change.GetValue<string>(), change.Version));
            await Task.WhenAll(
                Enumerable.Range(0, 2).Select(m => Task.Run(async () =>
                {
                    var master = m == 0 ? first : second;
                    for (int n = 0; n < 100; n++)
                    {
                        await master.Store.IncrementAsync("count", 1, this.TimeoutToken);
                    }
                })));
            Assert.Equal(200, await first.Store.GetAsync<long>("count", this.TimeoutToken));

            // A store with no bound reads with plain commands (and Redis's clock, for a key with a deadline), on this node.
            await second.Store.SetAsync("ttl", name, new SetOptions { TimeToLive = TimeSpan.FromMinutes(5) }, this.TimeoutToken);
            await using (var plain = await RedisSharedMemory.ConnectStoreAsync(store, new SharedMemoryOptions { MaxBytes = null }, cancellationToken: this.TimeoutToken))
            {
                var calls = SentCalls.Record(plain.Engine);
                Assert.Equal((200, name, name), (await plain.GetAsync<long>("count", this.TimeoutToken), await plain.GetAsync<string>("k", this.TimeoutToken), await plain.GetAsync<string>("ttl", this.TimeoutToken)));
                Assert.Equal([RedisEngine.ReadCommands, RedisEngine.ReadCommands, RedisEngine.ReadCommands], calls.Made);
            }

            // Every key of the store is on its node.
            var server = probe.GetServer(node);
            var keys = new List<string>();
            await foreach (var key in server.KeysAsync(pattern: $"{{{name}}}:*"))
            {
                keys.Add((string)key!);
            }

            Assert.Contains($"{{{name}}}:values", keys);
            output.WriteLine($"store {name} on {node}: {keys.Count} keys, slot {probe.HashSlot($"{{{name}}}").ToString(CultureInfo.InvariantCulture)}");
        }

        Assert.Equal(3, names.Keys.Distinct().Count());
    }
}
