using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// Random and mutated frames from raw workers against a real master: the master never falls over or hangs, a bad frame
/// costs only its own connection, and a bystander worker sees no error.
/// </summary>
/// <remarks>
/// A frame whose bytes are broken usually costs its connection, and a new raw worker costs a process start (about
/// 0.5-1 s on a loaded two-core machine), so such frames are rare here; <see cref="FrameGuardTests"/> feeds the frame
/// parser about 18,000 in-process (3,000 streams of 1-11 frames, about a third of them with a mutated header, read
/// in random chunks). The test as a whole may take up to five minutes on a loaded machine
/// before it counts as hung; it aims at well under one.
/// </remarks>
public sealed class FuzzTests(ITestOutputHelper output) : WorkerProcessTestBase(new SharedMemoryOptions { MaxValueBytes = MaxValueBytes, MaxKeyLength = 128 }, TimeSpan.FromMinutes(5))
{
    private const int MaxValueBytes = 64 * 1024;

    /// <summary>
    /// The share of frames whose bytes (body or headers) are mutated, and as many again whose JSON is not JSON-RPC: most
    /// of them cost a connection, and a new raw worker.
    /// </summary>
    private const double BreakRate = 0.0001;

    [Fact]
    public async Task RandomAndMutatedFrames_CostOnlyTheirConnection_AndABystanderSeesNoError()
    {
        // RXSM_FUZZ_SEED replays a run; every failure message carries the seed.
        int seed = int.TryParse(Environment.GetEnvironmentVariable("RXSM_FUZZ_SEED"), CultureInfo.InvariantCulture, out int given) ? given : Random.Shared.Next();
        int frames = int.TryParse(Environment.GetEnvironmentVariable("RXSM_FUZZ_FRAMES"), CultureInfo.InvariantCulture, out int count) ? count : 100_000;
        output.WriteLine($"seed {seed}");
        var bystander = await this.SpawnReadyAsync("checking-bystander", "bystander/");

        var clock = Stopwatch.StartNew();
        long handled = 0;
        long structural = 0;
        int connections = 0;
        var findings = new List<string>();
        while (handled < frames)
        {
            var fuzzer = await this.SpawnAsync("raw-fuzz", (seed + connections).ToString(CultureInfo.InvariantCulture), (frames - handled).ToString(CultureInfo.InvariantCulture), MaxValueBytes.ToString(CultureInfo.InvariantCulture), BreakRate.ToString(CultureInfo.InvariantCulture));
            connections++;
            var lines = await this.ReportAfterExitAsync(fuzzer);
            handled += long.Parse(Value(lines, "handled"), CultureInfo.InvariantCulture);
            structural += long.Parse(Value(lines, "structural"), CultureInfo.InvariantCulture);
            var end = Value(lines, "end");
            output.WriteLine($"connection {connections}: {clock.Elapsed.TotalSeconds:F1} s, {handled} frames, {(end.Length > 2000 ? end[..2000] : end)}");

            // A connection may end only on a frame that was mutated to break it; a hang is always a finding.
            if (end.StartsWith("Hung", StringComparison.Ordinal) || end.Contains(" unexpected ", StringComparison.Ordinal))
            {
                findings.Add($"connection {connections} (seed {seed + connections - 1}): {end}");
            }
        }

        clock.Stop();
        output.WriteLine($"{handled} frames ({structural} with mutated bytes) over {connections} connections in {clock.Elapsed.TotalSeconds:F1} s");

        await this.Master.Store.SetAsync("bystander/stop", true, this.TimeoutToken);
        var seen = await this.ReportAfterExitAsync<CheckingBystanderScenario.Report>(bystander);
        output.WriteLine($"bystander: {seen.Ops} calls, {seen.Changes} changes seen, {seen.Errors.Length} errors");

        Assert.True(findings.Count == 0, $"Seed {seed}: {findings.Count} findings:\n{string.Join('\n', findings)}");
        Assert.True(seen.Errors.Length == 0, $"Seed {seed}: the bystander saw errors:\n{string.Join('\n', seen.Errors)}");
        Assert.True(seen.Ops > 0, $"Seed {seed}: the bystander made no call.");
        Assert.Empty(this.Master.Workers);
        long version = await this.Master.Store.SetAsync("after", 1, this.TimeoutToken);
        Assert.Equal(version, (await this.Master.Store.GetEntryAsync<int>("after", this.TimeoutToken))!.Version);
    }

    private static string Value(string[] lines, string name) =>
        lines.Single(l => l.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..];
}
