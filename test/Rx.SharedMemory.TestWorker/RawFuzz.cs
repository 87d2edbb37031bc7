using System.Globalization;

namespace Rx.SharedMemory.TestWorker;

/// <summary>Raw workers that send frames by hand after a valid hello: a given file of bytes, or a stream of random ones.</summary>
internal static class RawFuzz
{
    /// <summary>How long a probe may wait before the worker assumes the master waits for the rest of a body, and sends filler.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    /// <summary>How long a probe may wait after the filler: past it the master counts as hung.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    /// <summary>The most frames sent before a probe: fewer round trips, many frames a connection.</summary>
    private const int GroupSize = 64;

    public static async Task RunAsync(string scenario, string[] arguments, Report report)
    {
        using var connection = new RawConnection();
        bool beforeHello = arguments.Length > 2 && arguments[2] == "before-hello";
        if (!beforeHello)
        {
            await connection.HelloAsync();
        }

        switch (scenario)
        {
            case "raw-frames":
                {
                    // raw-frames FILE FILLERBYTES [before-hello|after-hello|after-hello-each-byte [ID,ID...]]: sends the
                    // file's bytes as they are (before the hello, if asked; one byte a write, if asked), waits for the
                    // answers to the requests of the ids given (those the master answers later than the requests after
                    // them, such as a cancelled lock wait), then sends a probe; reports what came back.
                    connection.Unclaimed = [];
                    var bytes = await File.ReadAllBytesAsync(arguments[0]);
                    int filler = int.Parse(arguments[1], CultureInfo.InvariantCulture);
                    var awaited = arguments.Length > 3 ? arguments[3].Split(',').Select(connection.ExpectAsync).ToArray() : [];
                    bool sent = arguments[2] == "after-hello-each-byte" ? await connection.WriteEachByteAsync(bytes) : await connection.WriteAsync(bytes);
                    if (beforeHello)
                    {
                        await connection.HelloAsync();
                    }

                    if (sent && awaited.Length > 0)
                    {
                        // A missing answer shows in the report; a closed connection, in the probe's outcome.
                        await Task.WhenAny(Task.WhenAll(awaited), connection.Closed, Task.Delay(Limit));
                    }

                    foreach (var answer in awaited.Where(a => a.IsCompletedSuccessfully))
                    {
                        report.Line($"reply {await answer}");
                    }

                    var outcome = sent
                        ? await connection.ProbeAsync(Patience, () => connection.WriteAsync(Filler(filler)), Limit)
                        : ProbeOutcome.Closed;
                    lock (connection.Unclaimed)
                    {
                        foreach (var reply in connection.Unclaimed)
                        {
                            report.Line($"reply {reply}");
                        }
                    }

                    report.Line($"outcome {outcome}");
                    break;
                }

            case "raw-fuzz":
                {
                    // raw-fuzz SEED FRAMES MAXVALUEBYTES BREAKRATE: sends up to FRAMES random frames, each followed by
                    // a probe, until one costs the connection; reports how many the master handled.
                    int seed = int.Parse(arguments[0], CultureInfo.InvariantCulture);
                    int frames = int.Parse(arguments[1], CultureInfo.InvariantCulture);
                    int maxValueBytes = int.Parse(arguments[2], CultureInfo.InvariantCulture);
                    double breakRate = double.Parse(arguments[3], CultureInfo.InvariantCulture);
                    var generator = new FuzzFrames(new Random(seed), maxValueBytes, breakRate);
                    int handled = 0;
                    int structural = 0;
                    string ending = "done";
                    while (handled < frames)
                    {
                        // Up to GroupSize frames go together, then a probe: a frame that may break the connection ends
                        // its group, so that the frames before it were all handled when it breaks it.
                        var group = new List<byte[]>();
                        bool mayCut = false;
                        while (group.Count < GroupSize && handled + group.Count < frames && !mayCut)
                        {
                            var (bytes, isStructural, breaks) = generator.Next();
                            group.Add(bytes);
                            structural += isStructural ? 1 : 0;
                            mayCut = breaks;
                        }

                        byte[] sent = [.. group.SelectMany(frame => frame)];
                        var outcome = await connection.WriteAsync(sent)
                            ? await connection.ProbeAsync(Patience, () => connection.WriteAsync(Filler(maxValueBytes + (16 * 1024))), Limit)
                            : ProbeOutcome.Closed;
                        handled += group.Count;
                        if (outcome != ProbeOutcome.Answered)
                        {
                            // What cost the connection, kept for the corpus of regression cases.
                            ending = $"{outcome} {(mayCut ? "expected" : "unexpected")} {Convert.ToBase64String(mayCut ? group[^1] : sent)}";
                            break;
                        }
                    }

                    report.Line($"handled {handled}");
                    report.Line($"structural {structural}");
                    report.Line($"end {ending}");
                    break;
                }

            default:
                throw new ArgumentException($"Unknown scenario '{scenario}'.");
        }
    }

    /// <summary>Spaces: they complete a body the master still waits for, and overflow a header section it reads.</summary>
    private static byte[] Filler(int bytes)
    {
        var filler = new byte[bytes];
        Array.Fill(filler, (byte)' ');
        return filler;
    }
}
