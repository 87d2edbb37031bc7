using System.Text;
using Rx.SharedMemory.Master;

namespace Rx.SharedMemory.Tests;

/// <summary>The tail a master keeps of a worker's standard error, and what it passes on.</summary>
public sealed class WorkerStandardErrorTests : TestBase
{
    [Fact]
    public async Task Tail_KeepsTheLastLines_AndEveryByteIsPassedOn()
    {
        var text = string.Concat(Enumerable.Range(1, 100).Select(i => $"line {i} é\r\n")) + "unfinished";
        var bytes = Encoding.UTF8.GetBytes(text);
        using var passedOn = new MemoryStream();

        var standardError = WorkerStandardError.Start(new TrickleStream(bytes, 7), passedOn, Encoding.UTF8);
        await standardError.Completion.WaitAsync(this.TimeoutToken);

        Assert.Equal(bytes, passedOn.ToArray());
        Assert.Equal([.. Enumerable.Range(82, 19).Select(i => $"line {i} é"), "unfinished"], standardError.Tail());
    }

    [Fact]
    public async Task Tail_OfOneEndlessLine_IsItsLastCharacters()
    {
        var text = new string('x', 10_000) + "end";
        var standardError = WorkerStandardError.Start(new MemoryStream(Encoding.UTF8.GetBytes(text)), destination: null, Encoding.UTF8);
        await standardError.Completion.WaitAsync(this.TimeoutToken);

        var tail = Assert.Single(standardError.Tail());
        Assert.Equal(WorkerStandardError.MaxTailChars, tail.Length);
        Assert.EndsWith("xend", tail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tail_PastItsCharacterBound_DropsTheLineThatLostItsBeginning()
    {
        var text = new string('x', 6_000) + "\nwhole\n";
        var standardError = WorkerStandardError.Start(new MemoryStream(Encoding.UTF8.GetBytes(text)), destination: null, Encoding.UTF8);
        await standardError.Completion.WaitAsync(this.TimeoutToken);

        Assert.Equal(["whole"], standardError.Tail());
    }

    /// <summary>
    /// The wait for the end is one, however many wait: a start that failed waits for it once when it reports the exit
    /// and again for the tail, and must not wait twice its bound when a process the worker started holds the stream.
    /// </summary>
    [Fact]
    public async Task EndAsync_CalledAgain_IsTheSameWait()
    {
        var source = new System.IO.Pipelines.Pipe();
        var standardError = WorkerStandardError.Start(source.Reader.AsStream(), destination: null, Encoding.UTF8);

        var first = standardError.EndAsync();
        var second = standardError.EndAsync();

        Assert.Same(first, second);
        await source.Writer.CompleteAsync();
        await second.WaitAsync(this.TimeoutToken);
    }

    [Fact]
    public async Task StopKeeping_KeepsNoTail_AndStillPassesEveryByteOn()
    {
        var bytes = Encoding.UTF8.GetBytes("before\nafter\n");
        using var passedOn = new MemoryStream();
        var source = new TrickleStream(bytes, 1);
        var standardError = WorkerStandardError.Start(source, passedOn, Encoding.UTF8);
        standardError.StopKeeping();
        await standardError.Completion.WaitAsync(this.TimeoutToken);

        Assert.Empty(standardError.Tail());
        Assert.Equal(bytes, passedOn.ToArray());
    }

    /// <summary>A stream that hands out its bytes a few at a time, as a pipe does, splitting characters and lines between reads.</summary>
    private sealed class TrickleStream(byte[] bytes, int chunk) : MemoryStream(bytes)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(chunk, buffer.Length)], cancellationToken);
    }
}
