using System.Buffers;
using System.Text;

namespace Rx.SharedMemory.Rpc;

/// <summary>
/// The rules every key and value obeys wherever it enters (a worker before sending, the master on arrival and in
/// <see cref="SharedMemoryMaster.Store"/>), in one place so that the two ends cannot drift.
/// </summary>
internal static class InputRules
{
    /// <summary>The name a nesting-depth refusal gives as its limit.</summary>
    public const string MaxValueDepthName = nameof(SharedMemoryOptions.MaxValueDepth);

    private static readonly SearchValues<byte> Structural = SearchValues.Create("[]{}\""u8);
    private static readonly SearchValues<byte> StringEnd = SearchValues.Create("\"\\"u8);

    /// <summary>
    /// Refuses a key or prefix that is not valid UTF-16 (a lone surrogate): UTF-8 cannot carry it, and System.Text.Json
    /// would replace it with U+FFFD, so that two different keys would become one.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="text"/> holds a lone surrogate.</exception>
    public static void ThrowIfNotUtf16(string text, string parameterName)
    {
        if (Utf16Error(text) is { } at)
        {
            throw new ArgumentException($"The {parameterName} {Describe(text)} is not valid UTF-16: a lone surrogate (0x{(int)text[at]:X4}) at index {at}. It cannot be sent as UTF-8 without being changed.", parameterName);
        }
    }

    /// <summary>The index of the first lone surrogate in <paramref name="text"/>, or null when there is none.</summary>
    public static int? Utf16Error(ReadOnlySpan<char> text)
    {
        // Almost every key is ASCII or at least surrogate-free: one vectorized search settles it.
        int i = text.IndexOfAnyInRange('\uD800', '\uDFFF');
        while (i >= 0 && i < text.Length)
        {
            if (!char.IsHighSurrogate(text[i]) || i + 1 == text.Length || !char.IsLowSurrogate(text[i + 1]))
            {
                return i;
            }

            i += 2;
            int next = text[i..].IndexOfAnyInRange('\uD800', '\uDFFF');
            i = next < 0 ? -1 : i + next;
        }

        return null;
    }

    /// <summary>
    /// Refuses a lock name that is empty, not valid UTF-16, or longer than keys may be (<see cref="SharedMemoryOptions.MaxKeyLength"/>):
    /// a name is not a key, but one of any length would make a request the master may not read.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or not valid UTF-16.</exception>
    /// <exception cref="SharedMemoryLimitExceededException">The name is longer than <paramref name="maxLength"/>; it names the limit.</exception>
    public static void ThrowIfBadLockName(string name, int maxLength)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new ArgumentException("A lock name must be a non-empty string.", nameof(name));
        }

        ThrowIfNotUtf16(name, nameof(name));
        ThrowIfTooLong(name, maxLength);
    }

    /// <summary>Refuses a key, prefix or lock name longer than <paramref name="maxLength"/>, the master's <see cref="SharedMemoryOptions.MaxKeyLength"/>.</summary>
    /// <exception cref="SharedMemoryLimitExceededException">It is longer; the exception names it and the limit.</exception>
    public static void ThrowIfTooLong(string keyOrName, int maxLength)
    {
        if (TooLong(keyOrName, maxLength) is { } refused)
        {
            throw refused;
        }
    }

    /// <summary>The refusal of a key, prefix or lock name longer than <paramref name="maxLength"/>, or null when it fits.</summary>
    public static SharedMemoryLimitExceededException? TooLong(string keyOrName, int maxLength) =>
        keyOrName.Length > maxLength ? new(keyOrName, nameof(SharedMemoryOptions.MaxKeyLength), maxLength, keyOrName.Length) : null;

    /// <summary>
    /// Refuses a value one of whose strings (or property names) escapes a lone surrogate, such as <c>"\ud800"</c>: valid
    /// JSON, which a worker in another language can write, but System.Text.Json cannot read it as text, so no .NET worker
    /// could read the value back.
    /// </summary>
    /// <exception cref="ArgumentException">The value escapes a lone surrogate; the message names the key.</exception>
    public static void ThrowIfLoneSurrogate(string key, ReadOnlySpan<byte> json)
    {
        if (LoneSurrogateIn(json) is { } error)
        {
            throw new ArgumentException($"The value of key {Describe(key)} is not valid UTF-16 text, and no worker could read it back: {error}", "value");
        }
    }

    /// <summary>What is wrong with the first string of a well-formed JSON value that escapes a lone surrogate; null when none does.</summary>
    /// <remarks>
    /// In well-formed JSON every backslash starts an escape inside a string, so the escapes are walked one after
    /// another without reading the JSON's structure and without allocating: a value System.Text.Json wrote, which
    /// escapes every character outside ASCII, costs one search per escape.
    /// </remarks>
    public static string? LoneSurrogateIn(ReadOnlySpan<byte> json)
    {
        int at = json.IndexOf((byte)'\\');
        while (at >= 0 && at + 1 < json.Length)
        {
            int next = at + 2;
            if (json[at + 1] == (byte)'u' && CodeUnit(json, at) is int unit)
            {
                next = at + 6;
                if (char.IsLowSurrogate((char)unit))
                {
                    return $"a string in it escapes a lone low surrogate (\\u{unit:X4}) at byte {at}";
                }

                if (char.IsHighSurrogate((char)unit))
                {
                    if (next + 1 >= json.Length || json[next] != (byte)'\\' || json[next + 1] != (byte)'u' || CodeUnit(json, next) is not int low || !char.IsLowSurrogate((char)low))
                    {
                        return $"a string in it escapes a lone high surrogate (\\u{unit:X4}) at byte {at}";
                    }

                    next += 6;
                }
            }

            int following = next < json.Length ? json[next..].IndexOf((byte)'\\') : -1;
            at = following < 0 ? -1 : next + following;
        }

        return null;
    }

    /// <summary>The UTF-16 code unit of the <c>\uXXXX</c> escape at <paramref name="at"/>, or null when its four hex digits are not there.</summary>
    private static int? CodeUnit(ReadOnlySpan<byte> json, int at) =>
        at + 6 <= json.Length && int.TryParse(json.Slice(at + 2, 4), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out int unit) ? unit : null;

    /// <summary>Refuses a value nested deeper than <see cref="SharedMemoryOptions.MaxValueDepth"/>.</summary>
    /// <exception cref="SharedMemoryLimitExceededException">The value is nested too deep; it names the key and the limit.</exception>
    public static void ThrowIfTooDeep(string? key, ReadOnlySpan<byte> json)
    {
        int depth = Depth(json);
        if (depth > SharedMemoryOptions.MaxValueDepth)
        {
            throw new SharedMemoryLimitExceededException(key, MaxValueDepthName, SharedMemoryOptions.MaxValueDepth, depth);
        }
    }

    /// <inheritdoc cref="ThrowIfTooDeep(string?, ReadOnlySpan{byte})"/>
    public static void ThrowIfTooDeep(string? key, ReadOnlySequence<byte> json)
    {
        if (json.IsSingleSegment)
        {
            ThrowIfTooDeep(key, json.FirstSpan);
            return;
        }

        var scanner = default(DepthScanner);
        foreach (var segment in json)
        {
            scanner.Scan(segment.Span);
        }

        if (scanner.Deepest > SharedMemoryOptions.MaxValueDepth)
        {
            throw new SharedMemoryLimitExceededException(key, MaxValueDepthName, SharedMemoryOptions.MaxValueDepth, scanner.Deepest);
        }
    }

    /// <summary>
    /// The nesting depth of one well-formed JSON value: 0 for a number, string, boolean or null, 1 for an array or
    /// object of those, and one more for each level of arrays and objects within.
    /// </summary>
    public static int Depth(ReadOnlySpan<byte> json)
    {
        var scanner = default(DepthScanner);
        scanner.Scan(json);
        return scanner.Deepest;
    }

    private static string Describe(string text) => text.Length <= 64 ? $"'{Escape(text)}'" : $"'{Escape(text[..64])}…'";

    /// <summary>Shows surrogates as escapes, so that the message itself is valid UTF-16.</summary>
    private static string Escape(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            builder.Append(char.IsSurrogate(c) ? $"\\u{(int)c:X4}" : c);
        }

        return builder.ToString();
    }

    /// <summary>
    /// Follows brackets outside strings, across the segments of a sequence. The value is well-formed JSON (it was
    /// parsed, or written by a serializer), so that a quote inside a string is always escaped, and a vectorized search
    /// skips the bytes that cannot matter: a 1 MiB base64 string costs a few searches.
    /// </summary>
    private struct DepthScanner
    {
        private int depth;
        private bool inString;
        private bool escaped;

        public int Deepest { get; private set; }

        public void Scan(ReadOnlySpan<byte> json)
        {
            while (!json.IsEmpty)
            {
                if (this.escaped)
                {
                    // The byte after a backslash, in the previous segment: never the string's end.
                    this.escaped = false;
                    json = json[1..];
                    continue;
                }

                int i = this.inString ? json.IndexOfAny(StringEnd) : json.IndexOfAny(Structural);
                if (i < 0)
                {
                    return;
                }

                byte b = json[i];
                json = json[(i + 1)..];
                if (this.inString)
                {
                    if (b == (byte)'\\')
                    {
                        this.escaped = true;
                    }
                    else
                    {
                        this.inString = false;
                    }

                    continue;
                }

                switch (b)
                {
                    case (byte)'"':
                        this.inString = true;
                        break;
                    case (byte)'[' or (byte)'{':
                        this.Deepest = Math.Max(this.Deepest, ++this.depth);
                        break;
                    default:
                        this.depth--;
                        break;
                }
            }
        }
    }
}
