using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Rx.SharedMemory.Tests;

[Collection(nameof(Measurements))]
public sealed class ExpiryTimingTests(ITestOutputHelper output) : TestBase
{
    [Fact]
    public async Task HundredThousandKeys_ExpiringOverTwoSeconds_EachGoneAndPublishedWithin100msOfItsDeadline()
    {
        // The master runs in a process of its own: the test host's thread pool is too busy to time anything in.
        var (exitCode, lines) = await this.RunProgramAsync("expiry-timing");
        this.AssertOnTime(exitCode, lines, earliest: 0);
    }

    [Fact]
    public async Task Redis_TwentyThousandKeys_ExpiringOverTwoSeconds_EachGoneAndPublishedWithin100msOfItsDeadline()
    {
        var (exitCode, lines) = await this.RunProgramAsync("expiry-timing", RedisServer.Shared.Configuration);

        // Redis's deadlines and timestamps are whole milliseconds of its clock, the deadline rounded down with the
        // moment of the write: an expiry can read up to 1 ms before the deadline the program computed.
        this.AssertOnTime(exitCode, lines, earliest: -1);
    }

    private void AssertOnTime(int exitCode, string[] lines, double earliest)
    {
        output.WriteLine("lateness in ms against each deadline (min, p50, p99, max):\n" + string.Join('\n', lines));
        Assert.Equal(0, exitCode);
        Assert.Contains("left 0", lines);
        var written = double.Parse(lines.Single(l => l.StartsWith("written ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);
        var offset = double.Parse(lines.Single(l => l.StartsWith("offset ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);
        Assert.True(written < offset, $"the keys took {written} ms to write, past the first deadline ({offset} ms): the test means nothing");
        // Within 100 ms; on a machine so loaded that a thread asking to sleep 1 ms wakes 50 ms late or more (the
        // control), within that delay plus 50 ms: what the expiry adds is what it can answer for.
        var control = double.Parse(lines.Single(l => l.StartsWith("control ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture);
        var bound = Math.Max(100, control + 50);
        foreach (var name in new[] { "committed", "received" })
        {
            var figures = lines.Single(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1..].Select(f => double.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            Assert.True(figures[0] >= earliest, $"a key was {name} {-figures[0]} ms before its deadline");
            Assert.True(figures[3] < bound, $"a key was {name} {figures[3]} ms after its deadline (bound {bound} ms; a control thread woke up to {control} ms late)");
        }
    }
}
