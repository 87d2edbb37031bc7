using System.Collections.Frozen;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>Every scenario the test worker runs as a connected worker, by the name the tests pass as the first argument.</summary>
internal static class ScenarioTable
{
    private static readonly FrozenDictionary<string, IScenario> Scenarios = new Dictionary<string, IScenario>
    {
        // Single calls and their effects.
        ["set"] = new SetScenario(),
        ["get"] = new GetScenario(),
        ["count"] = new CountScenario(),
        ["increment"] = new IncrementScenario(),
        ["update"] = new UpdateScenario(),
        ["lock"] = new LockScenario(),
        ["roundtrip"] = new RoundtripScenario(),
        ["observe-raw"] = new ObserveRawScenario(),
        ["spawn-child"] = new SpawnChildScenario(),
        ["write-stderr"] = new WriteStandardErrorScenario(),
        ["connect-twice"] = new ConnectTwiceScenario(),
        ["observe-after-dispose"] = new ObserveAfterDisposeScenario(),
        ["serializer"] = new SerializerScenario(),

        // Change streams.
        ["watch"] = new WatchScenario(),
        ["observe-first"] = new ObserveFirstScenario(),
        ["latest"] = new LatestScenario(),
        ["churn"] = new ChurnScenario(),
        ["unsubscribe"] = new UnsubscribeScenario(),
        ["echo"] = new EchoScenario(),
        ["orphan"] = new OrphanScenario(),
        ["mirror-writer"] = new MirrorWriterScenario(),
        ["mirror-reader"] = new MirrorReaderScenario(),

        // Traces across processes.
        ["traced-set"] = new TracedSetScenario(),
        ["traced-observe"] = new TracedObserveScenario(),

        // Messages between processes.
        ["messages"] = new MessagesScenario(),

        // Bystanders, which measure or check what others cost them.
        ["checking-bystander"] = new CheckingBystanderScenario(),
        ["bystander"] = new BystanderScenario(),

        // Limits, bad input, large values and pipelined batches.
        ["input-rules"] = new InputRulesScenario(),
        ["limits"] = new LimitsScenario(),
        ["large"] = new LargeScenario(),
        ["big-gets"] = new BigGetsScenario(),
        ["pipeline"] = new PipelineScenario(),
        ["subscribe-many"] = new SubscribeManyScenario(),
        ["lock-waits"] = new LockWaitsScenario(),
        ["hold-many"] = new HoldManyScenario(),
        ["subscribe-hold"] = new SubscribeHoldScenario(),

        // Random churn, slow observers, and workers that hold things until they are killed.
        ["chaos-writer"] = new ChaosWriterScenario(),
        ["chaos-subscriber"] = new ChaosSubscriberScenario(),
        ["tolerant-writer"] = new TolerantWriterScenario(),
        ["slow-observer"] = new SlowObserverScenario(),
        ["flood"] = new FloodScenario(),
        ["writes-then-unlock"] = new WritesThenUnlockScenario(),
        ["hold"] = new HoldScenario(),
        ["wait-lock"] = new WaitLockScenario(),
        ["ephemeral"] = new EphemeralScenario(),
        ["own"] = new OwnScenario(),
        ["busy"] = new BusyScenario(),
        ["take-locks"] = new TakeLocksScenario(),

        // A worker that only stays connected, for the masters a host runs.
        ["serve"] = new ServeScenario(),
        ["exit-when-told"] = new ExitWhenToldScenario(),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IScenario? scenario) =>
        Scenarios.TryGetValue(name, out scenario);
}
