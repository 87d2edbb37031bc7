using System.Globalization;
using System.Text;

namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// Random frames built from valid messages (hello, get, set, compareAndSet, increment, delete, lock, unlock,
/// subscribe, unsubscribe, batch, cancel), then mutated: arguments of the wrong type or shape, bad keys, deep and large
/// values, odd ids and envelopes, and now and then the bytes themselves (the body or the headers).
/// </summary>
/// <param name="random">The source of every choice: one seed, one sequence of frames.</param>
/// <param name="maxValueBytes">The master's MaxValueBytes, so that some values land on either side of it.</param>
/// <param name="breakRate">
/// How often a frame's bytes are mutated (the body or the headers), and, as often, its JSON made something that is not
/// JSON-RPC (params neither array nor object, an id that is an object, a value nested past the envelope's 64 levels):
/// most such frames cost the connection, and a new raw worker a process start.
/// </param>
internal sealed class FuzzFrames(Random random, int maxValueBytes, double breakRate)
{
    private static readonly string[] Methods = ["get", "set", "compareAndSet", "increment", "delete", "lock", "unlock", "subscribe", "unsubscribe", "batch", "hello", "$/cancelRequest", "nosuch", "changes"];
    private static readonly string[] BatchMethods = ["get", "set", "compareAndSet", "increment", "delete", "unlock", "lock", "batch", "x"];
    private long nextId = 1000;

    /// <summary>One frame: its bytes, and whether they were mutated below the JSON (the frame may then cost the connection).</summary>
    public (byte[] Bytes, bool Structural, bool MayCut) Next()
    {
        bool mayCut = false;
        string json = this.Message(ref mayCut);
        var body = Encoding.UTF8.GetBytes(json);

        // Past the master's frame limit (MaxValueBytes plus room for keys and the envelope) a frame costs the connection.
        mayCut |= body.Length > maxValueBytes + 4096;
        if (random.NextDouble() >= breakRate)
        {
            return (RawConnection.Frame(body), false, mayCut);
        }

        return random.Next(2) == 0 ? (RawConnection.Frame(this.MutateBytes(body)), true, true) : (this.MutateHeader(body), true, true);
    }

    private string Message(ref bool mayCut)
    {
        string method = this.Pick(Methods);
        string parameters = method switch
        {
            "get" or "delete" => $"[{this.Key()}]",
            "set" => random.Next(4) switch
            {
                0 => $$"""{"key":{{this.Key()}},"value":{{this.Value(ref mayCut)}}}""",
                1 => $"[{this.Key()},{this.Value(ref mayCut)},{this.Ttl()},{this.Bool()}]",
                _ => $"[{this.Key()},{this.Value(ref mayCut)}]",
            },
            "compareAndSet" => $"[{this.Key()},{this.Number()},{this.Value(ref mayCut)}]",
            "increment" => $"[{this.Key()},{this.Number()}]",
            "lock" => $"[{this.Key()},{random.Next(-1, 30)}]",
            "unlock" => $"[{this.Key()},{this.Number()}]",
            "subscribe" => $"[{random.Next(1, 50)},{this.Key()},{this.Bool()},{(random.Next(2) == 0 ? "null" : this.Number())}]",
            "unsubscribe" => $"[{random.Next(1, 50)}]",
            "batch" => this.Batch(ref mayCut),
            "hello" => $$"""{"protocolVersion":{{random.Next(0, 3)}},"processId":1}""",
            "$/cancelRequest" => $$"""{"id":{{this.nextId - random.Next(0, 5)}}}""",
            _ => $"[{this.AnyJson(3, ref mayCut)}]",
        };

        // Now and then the arguments are replaced by anything at all: the master must answer, not fall over.
        if (random.Next(10) == 0)
        {
            parameters = $"[{this.AnyJson(2, ref mayCut)},{this.AnyJson(2, ref mayCut)}]";
        }

        bool breaks = random.NextDouble() < breakRate;
        if (breaks && random.Next(3) == 0)
        {
            // Params that are neither an array nor an object are not JSON-RPC: StreamJsonRpc ends the connection.
            parameters = this.AnyJson(0, ref mayCut);
            mayCut = true;
        }

        string id = random.Next(20) switch
        {
            0 => string.Empty, // a notification
            1 => ",\"id\":\"s-" + random.Next(1000) + "\"",
            2 when breaks => this.OddId(ref mayCut),
            _ => ",\"id\":" + this.nextId++,
        };

        string envelope = random.Next(40) switch
        {
            0 => "\"jsonrpc\":\"1.0\",",
            1 => string.Empty,
            _ => "\"jsonrpc\":\"2.0\",",
        };
        if (breaks && random.Next(2) == 0)
        {
            // An envelope that is JSON but not JSON-RPC: it may cost the connection.
            mayCut = true;
            return random.Next(3) switch
            {
                0 => $$"""{"jsonrpc":"2.0","method":{{this.AnyJson(1, ref mayCut)}}{{id}}}""",
                1 => this.AnyJson(2, ref mayCut),
                _ => $$"""{"jsonrpc":"2.0","result":{{this.AnyJson(2, ref mayCut)}},"id":{{this.nextId}}}""",
            };
        }

        return $$"""{{{envelope}}"method":"{{method}}","params":{{parameters}}{{id}}}""";
    }

    private string OddId(ref bool mayCut)
    {
        mayCut = true;
        return random.Next(5) switch
        {
            0 => ",\"id\":null",
            1 => ",\"id\":1.5",
            2 => ",\"id\":{}",
            3 => ",\"id\":[1]",
            _ => ",\"id\":99999999999999999999999",
        };
    }

    private string Batch(ref bool mayCut)
    {
        var calls = new StringBuilder("[[");
        int count = random.Next(0, 12);
        for (int i = 0; i < count; i++)
        {
            if (i > 0)
            {
                calls.Append(',');
            }

            string method = this.Pick(BatchMethods);
            string call = method switch
            {
                "get" or "delete" => $"[\"{method}\",{this.Key()}]",
                "set" => $"[\"set\",{this.Key()},{this.Value(ref mayCut)}{(random.Next(3) == 0 ? $",{this.Ttl()},{this.Bool()}" : string.Empty)}{(random.Next(30) == 0 ? $",{this.Number()},{this.Number()}" : string.Empty)}]",
                "compareAndSet" => $"[\"compareAndSet\",{this.Key()},{this.Number()},{this.Value(ref mayCut)}]",
                "increment" => $"[\"increment\",{this.Key()},{this.Number()}]",
                "unlock" => $"[\"unlock\",{this.Key()},{this.Number()}]",
                _ => random.Next(2) == 0 ? $"[\"{method}\",{this.AnyJson(2, ref mayCut)}]" : this.AnyJson(2, ref mayCut),
            };
            calls.Append(call);
        }

        return calls.Append("]]").ToString();
    }

    private string Key() => random.Next(40) switch
    {
        0 => "\"\"",
        1 => "\"\\ud800\"",
        2 => "\"f/\\udc00x\"",
        3 => "\"f/\\ud83d\\ude00\"",
        4 => "\"" + new string('k', random.Next(60, 200)) + "\"",
        5 => "null",
        6 => this.Number(),
        7 => "\"f/\\u0000\"",
        8 => "\"f/é\"",
        _ => $"\"f/{random.Next(16)}\"",
    };

    private string Ttl() => random.Next(6) switch
    {
        0 => "-1",
        1 => "0",
        2 => "1e300",
        3 => "922337203685477",
        4 => "null",
        _ => random.Next(1, 100000).ToString(CultureInfo.InvariantCulture),
    };

    private string Bool() => random.Next(5) switch
    {
        0 => "null",
        1 => "1",
        _ => random.Next(2) == 0 ? "true" : "false",
    };

    private string Number() => random.Next(8) switch
    {
        0 => "-1",
        1 => "1.5",
        2 => "1e400",
        3 => "9223372036854775807",
        4 => "-9223372036854775808",
        5 => "99999999999999999999",
        _ => random.Next(0, 100).ToString(CultureInfo.InvariantCulture),
    };

    private string Value(ref bool mayCut)
    {
        switch (random.Next(30))
        {
            case 0:
                {
                    // Nested around the limits: the value's (32), the envelope's (64 in all).
                    int depth = random.NextDouble() < breakRate * 100 ? random.Next(56, 70) : random.Next(28, 38);
                    mayCut |= depth > 58;
                    return new string('[', depth) + "1" + new string(']', depth);
                }

            case 1:
                return "\"" + new string('v', random.Next(maxValueBytes - 64, maxValueBytes + 64)) + "\"";
            case 2:
                return "\"\\ud800 lone\"";
            default:
                return this.AnyJson(3, ref mayCut);
        }
    }

    private string AnyJson(int depth, ref bool mayCut) => random.Next(depth <= 0 ? 6 : 9) switch
    {
        0 => "null",
        1 => "true",
        2 => this.Number(),
        3 => "\"" + this.Pick(["", "text", "a\\\"b", "\\u00e9", "\\n"]) + "\"",
        4 => this.Key(),
        5 => "-0",
        6 => "[" + string.Join(',', Enumerable.Range(0, random.Next(4)).Select(_ => this.AnyJsonNoRef(depth - 1))) + "]",
        7 => "{" + string.Join(',', Enumerable.Range(0, random.Next(4)).Select(i => $"\"p{i}\":{this.AnyJsonNoRef(depth - 1)}")) + "}",
        _ => "{\"a\":" + this.AnyJsonNoRef(depth - 1) + ",\"a\":1}",
    };

    private string AnyJsonNoRef(int depth)
    {
        bool ignored = false;
        return this.AnyJson(depth, ref ignored);
    }

    private byte[] MutateBytes(byte[] body)
    {
        var bytes = body.ToList();
        int mutations = random.Next(1, 4);
        for (int m = 0; m < mutations && bytes.Count > 0; m++)
        {
            int at = random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0: bytes[at] = (byte)random.Next(256); break;
                case 1: bytes.Insert(at, (byte)random.Next(256)); break;
                case 2: bytes.RemoveRange(at, Math.Min(bytes.Count - at, random.Next(1, 8))); break;
                case 3: bytes.RemoveRange(at, bytes.Count - at); break; // truncated
                case 4: bytes.InsertRange(at, new byte[] { 0xC3, 0x28, 0xFF, 0xED, 0xA0, 0x80 }.Take(random.Next(1, 7))); break; // invalid UTF-8
                default: bytes.InsertRange(at, "\r\n\r\nContent-Length: 3\r\n\r\n"u8.ToArray()); break;
            }
        }

        return [.. bytes];
    }

    /// <summary>A frame with a header other than the plain <c>Content-Length</c>; when it announces more than it sends, filler follows so that the master is not left waiting.</summary>
    private byte[] MutateHeader(byte[] body)
    {
        int length = body.Length;
        string header = random.Next(16) switch
        {
            0 => $"Content-Length: {length}\r\nContent-Length: {length}\r\n\r\n",
            1 => $"Content-Length: {length}\r\nContent-Length: {length + random.Next(1, 100)}\r\n\r\n",
            2 => $"content-length: {length}\r\n\r\n",
            3 => $"Content-Length:{length}\r\n\r\n",
            4 => $"Content-Length: {length}\n\n",
            5 => $"Content-Length: {length}\r\nX-Extra: {new string('x', random.Next(0, 5000))}\r\n\r\n",
            6 => $"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: {length}\r\n\r\n",
            7 => $"Content-Length: {length}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-16\r\n\r\n",
            8 => $"Content-Length: -{length}\r\n\r\n",
            9 => $"Content-Length: +{length}\r\n\r\n",
            10 => $"Content-Length: 000{length}\r\n\r\n",
            11 => $"Content-Length: {length}\r\r\n\r\n",
            12 => $"NoColon\r\nContent-Length: {length}\r\n\r\n",
            13 => $"Content-Length: {Math.Max(0, length - random.Next(1, 20))}\r\n\r\n",
            14 => $"Content-Length: {length + random.Next(1, 3000)}\r\n\r\n",
            _ => $"\r\nContent-Length: {length}\r\n\r\n",
        };
        var frame = new List<byte>(Encoding.ASCII.GetBytes(header));
        frame.AddRange(body);

        // Announced more than the body: filler up to what was announced, so the master reads one whole (bad) frame.
        if (header.StartsWith("Content-Length: ", StringComparison.Ordinal) && header.IndexOf('\r', StringComparison.Ordinal) is int end and > 0
            && int.TryParse(header.AsSpan(16, end - 16), NumberStyles.None, CultureInfo.InvariantCulture, out int announced) && announced > length)
        {
            frame.AddRange(Enumerable.Repeat((byte)' ', announced - length));
        }

        return [.. frame];
    }

    private T Pick<T>(T[] choices) => choices[random.Next(choices.Length)];
}
