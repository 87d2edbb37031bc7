namespace Rx.SharedMemory.Protocol;

/// <summary>
/// Every limit on the size or depth of a protocol message in one place (docs/protocol.md): a frame and its header
/// section, a <c>batch</c> and its answer, a <c>changes</c> notification, the value that takes the shared region, a
/// value's nesting. The side that keeps within a limit and the side that relies on it read the same number.
/// </summary>
/// <remarks>
/// The master's thresholds for when it writes, such as <see cref="Transport.OutboundBuffer.ChangeThreshold"/> (how
/// much unwritten output holds change notifications back), bound no message: they stay with the code they tune.
/// </remarks>
internal static class ProtocolLimits
{
    /// <summary>
    /// The most key and value JSON the .NET worker puts in one <c>batch</c> request (or <c>maxValueBytes</c>, if
    /// smaller); a larger value travels in a batch of its own. Well under the frame limit, so that a batch is never
    /// refused for its size, and small enough that one batch does not hold up the pipe.
    /// </summary>
    public const int MaxBatchBytes = 256 * 1024;

    /// <summary>The most gets the .NET worker puts in one batch: their values come back in one answer, inline when they do not fit the shared region.</summary>
    public const int MaxGetsPerBatch = 64;

    /// <summary>
    /// The size of a batch's answer past which the master runs no further call of it (or <c>maxValueBytes</c>, if
    /// larger): the calls left are answered <see cref="RpcErrorCodes.NotRun"/>, for the worker to send again.
    /// </summary>
    public const long MinAnswerBudget = 4 * 1024 * 1024;

    /// <summary>
    /// The most calls of one batch a master sends to a store it answers later (a remote one, such as Redis), all at
    /// once: the calls after them are answered <see cref="RpcErrorCodes.NotRun"/>, for the worker to send again. Each
    /// call in flight holds about 2 KiB of the master's memory, so that a batch of a million small gets, within the
    /// frame limit, would have held 2 GB.
    /// </summary>
    public const int MaxCallsSentAtOnce = 4096;

    /// <summary>The smallest value that travels through the shared region rather than the pipe: below it, the pipe costs no more.</summary>
    public const int MinRegionValueBytes = 32 * 1024;

    /// <summary>
    /// The most changes one <c>changes</c> notification carries. With <see cref="MaxChangesValueBytes"/>, it bounds what
    /// the master holds for a worker that does not read to its connection bound plus one notification.
    /// </summary>
    public const int MaxChangesPerNotification = 256;

    /// <summary>
    /// The most bytes of values (their JSON) one <c>changes</c> notification carries, plus one value: the change whose
    /// value passes it, however large, is the notification's last.
    /// </summary>
    public const long MaxChangesValueBytes = 256 * 1024;

    /// <summary>The longest header section of a frame the master reads, its blank line included.</summary>
    public const int MaxHeaderBytes = 4096;

    /// <summary>The room a frame's body has beside its value and key: the JSON-RPC envelope and the other arguments.</summary>
    public const int EnvelopeBytes = 4096;

    /// <summary>The bytes a key's character takes at most in JSON: <c>\uXXXX</c>.</summary>
    public const int MaxBytesPerKeyChar = 6;

    /// <summary>
    /// The deepest nesting a value may have (<see cref="SharedMemoryOptions.MaxValueDepth"/>). A <c>batch</c> answer
    /// or a <c>changes</c> notification carries a value <see cref="MessageDepth"/> levels down, and the value must fit
    /// within the <see cref="ParserMaxDepth"/> levels System.Text.Json and StreamJsonRpc read.
    /// </summary>
    public const int MaxValueDepth = SharedMemoryOptions.MaxValueDepth;

    /// <summary>The levels of the deepest message around a value: a <c>batch</c> answer's envelope, array, outcome and result object.</summary>
    public const int MessageDepth = 4;

    /// <summary>The depth System.Text.Json (and so StreamJsonRpc) reads by default.</summary>
    public const int ParserMaxDepth = 64;

    /// <summary>The whole milliseconds of <see cref="TimeSpan.MaxValue"/>: a duration on the wire (<c>ttlMs</c>, <c>timeoutMs</c>) from there on is the longest there is.</summary>
    public const double MaxDurationMilliseconds = 922_337_203_685_477;

    /// <summary>
    /// A duration read from the wire, zero or more milliseconds: one past what a <see cref="TimeSpan"/> holds (about
    /// 29,000 years), up to JSON's largest number, is <see cref="TimeSpan.MaxValue"/>, never an overflow.
    /// </summary>
    /// <param name="milliseconds">The milliseconds, zero or more (the caller refuses the rest by name).</param>
    /// <returns>The duration.</returns>
    public static TimeSpan Duration(double milliseconds) =>
        milliseconds >= MaxDurationMilliseconds ? TimeSpan.MaxValue : TimeSpan.FromMilliseconds(milliseconds);

    /// <summary>The body a master accepts in one frame from a worker: the largest value, the longest key fully escaped, and the envelope.</summary>
    /// <param name="maxValueBytes">The master's <see cref="SharedMemoryOptions.MaxValueBytes"/>.</param>
    /// <param name="maxKeyLength">The master's <see cref="SharedMemoryOptions.MaxKeyLength"/>.</param>
    /// <returns>The frame limit, in bytes.</returns>
    public static long MaxFrameBytes(int maxValueBytes, int maxKeyLength) =>
        maxValueBytes + ((long)MaxBytesPerKeyChar * maxKeyLength) + EnvelopeBytes;

    /// <summary>An upper bound of one call's size in a batch: its key fully escaped, its value, and room for the rest.</summary>
    /// <param name="keyLength">The key's (or lock name's) length in UTF-16 characters.</param>
    /// <param name="valueBytes">The value's JSON bytes, 0 for none.</param>
    /// <returns>The bound, in bytes.</returns>
    public static int BatchCallBytes(int keyLength, long valueBytes) =>
        (int)Math.Min(int.MaxValue, ((long)MaxBytesPerKeyChar * keyLength) + valueBytes + 64);

    /// <summary>The answer size past which a batch's remaining calls are not run.</summary>
    /// <param name="maxValueBytes">The master's <see cref="SharedMemoryOptions.MaxValueBytes"/>.</param>
    /// <returns>The budget, in bytes.</returns>
    public static long AnswerBudget(int maxValueBytes) => Math.Max(MinAnswerBudget, maxValueBytes);
}
