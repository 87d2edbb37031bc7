using System.Text.Json;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Worker;

namespace Rx.SharedMemory.Tests;

/// <summary>How the worker forms batches, against a fake master whose answers the test releases one at a time.</summary>
public sealed class CallBatcherTests : TestBase
{
    private readonly List<(string[] Calls, TaskCompletionSource<JsonElement> Answer)> sent = [];
    private readonly SemaphoreSlim sentSignal = new(0);

    [Fact]
    public async Task ALoneCallGoesAtOnce_CallsMadeWhileItIsInFlightGoTogetherNext()
    {
        var batcher = this.CreateBatcher(maxBatchBytes: 1 << 20);
        var first = Call("a");
        batcher.Enqueue(first);
        await this.NextSentAsync();
        var waiting = Enumerable.Range(0, 5).Select(i => Call($"b{i}")).ToArray();
        foreach (var call in waiting)
        {
            batcher.Enqueue(call);
        }

        Assert.Single(this.sent);
        this.Answer(0, """[{"result":1}]""");
        Assert.Equal(1, await first.Task.WaitAsync(this.TimeoutToken));

        await this.NextSentAsync();
        Assert.Equal(["b0", "b1", "b2", "b3", "b4"], this.sent[1].Calls);
        this.Answer(1, """[{"result":10},{"result":11},{"error":{"code":-32012,"message":"no"}},{"result":13},{"result":14}]""");
        Assert.Equal(10, await waiting[0].Task.WaitAsync(this.TimeoutToken));
        Assert.Equal(14, await waiting[4].Task.WaitAsync(this.TimeoutToken));
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => waiting[2].Task.WaitAsync(this.TimeoutToken));
        Assert.Equal("no", refused.Message);

        // Idle again: the next call goes at once.
        var last = Call("c");
        batcher.Enqueue(last);
        await this.NextSentAsync();
        Assert.Equal(["c"], this.sent[2].Calls);
    }

    [Fact]
    public async Task ACallCanceledWhileQueued_NeverTravels()
    {
        var batcher = this.CreateBatcher(maxBatchBytes: 1 << 20);
        batcher.Enqueue(Call("a"));
        await this.NextSentAsync();
        using var cancel = new CancellationTokenSource();
        var canceled = Call("canceled", cancel.Token);
        var kept = Call("kept");
        batcher.Enqueue(canceled);
        batcher.Enqueue(kept);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled.Task);

        this.Answer(0, """[{"result":1}]""");
        await this.NextSentAsync();
        Assert.Equal(["kept"], this.sent[1].Calls);
    }

    [Fact]
    public async Task ABatchStopsAtItsByteBudget_ButALargerCallStillGoesAlone()
    {
        var batcher = this.CreateBatcher(maxBatchBytes: 1000);
        batcher.Enqueue(Call("first"));
        await this.NextSentAsync();
        batcher.Enqueue(Call("a", bytes: 400));
        batcher.Enqueue(Call("b", bytes: 400));
        batcher.Enqueue(Call("c", bytes: 400));
        batcher.Enqueue(Call("huge", bytes: 5000));
        batcher.Enqueue(Call("d", bytes: 400));

        this.Answer(0, """[{"result":0}]""");
        await this.NextSentAsync();
        Assert.Equal(["a", "b"], this.sent[1].Calls);
        this.Answer(1, """[{"result":0},{"result":0}]""");
        await this.NextSentAsync();
        Assert.Equal(["c"], this.sent[2].Calls);
        this.Answer(2, """[{"result":0}]""");
        await this.NextSentAsync();
        Assert.Equal(["huge"], this.sent[3].Calls);
        this.Answer(3, """[{"result":0}]""");
        await this.NextSentAsync();
        Assert.Equal(["d"], this.sent[4].Calls);
    }

    [Fact]
    public async Task ABatchCarriesAtMost64Gets_SinceTheirValuesComeBackInOneResponse()
    {
        var batcher = this.CreateBatcher(maxBatchBytes: 1 << 20);
        batcher.Enqueue(Call("first"));
        await this.NextSentAsync();
        for (int i = 0; i < 100; i++)
        {
            batcher.Enqueue(Call($"g{i}"));
        }

        this.Answer(0, """[{"result":0}]""");
        await this.NextSentAsync();
        Assert.Equal(64, this.sent[1].Calls.Length);
        this.Answer(1, "[" + string.Join(',', Enumerable.Repeat("""{"result":0}""", 64)) + "]");
        await this.NextSentAsync();
        Assert.Equal(36, this.sent[2].Calls.Length);
    }

    [Fact]
    public async Task CallsTheMasterDidNotRun_GoAgainFirst_InOrder()
    {
        var batcher = this.CreateBatcher(maxBatchBytes: 1 << 20);
        batcher.Enqueue(Call("first"));
        await this.NextSentAsync();
        var calls = new[] { Call("a"), Call("b"), Call("c"), Call("d") };
        foreach (var call in calls)
        {
            batcher.Enqueue(call);
        }

        this.Answer(0, """[{"result":0}]""");
        await this.NextSentAsync();
        var later = Call("e");
        batcher.Enqueue(later);
        this.Answer(1, """[{"result":1},{"result":2},{"error":{"code":-32014,"message":"not run"}},{"error":{"code":-32014,"message":"not run"}}]""");

        await this.NextSentAsync();
        Assert.Equal(["c", "d", "e"], this.sent[2].Calls);
        Assert.Equal(1, await calls[0].Task.WaitAsync(this.TimeoutToken));
        Assert.Equal(2, await calls[1].Task.WaitAsync(this.TimeoutToken));
        Assert.False(calls[2].Task.IsCompleted);
        this.Answer(2, """[{"result":3},{"result":4},{"result":5}]""");
        Assert.Equal(3, await calls[2].Task.WaitAsync(this.TimeoutToken));
        Assert.Equal(4, await calls[3].Task.WaitAsync(this.TimeoutToken));
        Assert.Equal(5, await later.Task.WaitAsync(this.TimeoutToken));
    }

    [Fact]
    public async Task TheWaitForCallsMadeSoFar_EndsOnceEachIsAnswered_ThoseTheMasterDidNotRunIncluded()
    {
        // What a worker's message waits for: every call made before it, answered (a canceled one, dropped).
        var batcher = this.CreateBatcher(maxBatchBytes: 1 << 20);
        Assert.True(batcher.WhenEnqueuedSettledAsync().IsCompleted);
        batcher.Enqueue(Call("first"));
        await this.NextSentAsync();
        using var cancel = new CancellationTokenSource();
        var calls = new[] { Call("a"), Call("canceled", cancel.Token), Call("b"), Call("c") };
        foreach (var call in calls)
        {
            batcher.Enqueue(call);
        }

        var upToC = batcher.WhenEnqueuedSettledAsync();
        await cancel.CancelAsync();
        var afterC = Call("d");
        batcher.Enqueue(afterC);
        var upToD = batcher.WhenEnqueuedSettledAsync();

        this.Answer(0, """[{"result":0}]""");
        await this.NextSentAsync();
        Assert.Equal(["a", "b", "c", "d"], this.sent[1].Calls);
        Assert.False(upToC.IsCompleted);
        this.Answer(1, """[{"result":1},{"result":2},{"error":{"code":-32014,"message":"not run"}},{"error":{"code":-32014,"message":"not run"}}]""");
        await this.NextSentAsync();
        Assert.Equal(["c", "d"], this.sent[2].Calls);
        Assert.False(upToC.IsCompleted);

        this.Answer(2, """[{"result":3},{"result":4}]""");
        await upToC.WaitAsync(this.TimeoutToken);
        await upToD.WaitAsync(this.TimeoutToken);
        Assert.True(batcher.WhenEnqueuedSettledAsync().IsCompleted);
    }

    [Fact]
    public async Task AFailedBatch_FailsItsCalls_AndTheQueuedOnesStillGo()
    {
        var batcher = this.CreateBatcher(maxBatchBytes: 1 << 20);
        var failing = Call("a");
        batcher.Enqueue(failing);
        await this.NextSentAsync();
        var queued = Call("b");
        batcher.Enqueue(queued);

        this.sent[0].Answer.SetException(new SharedMemoryDisconnectedException("gone"));
        await Assert.ThrowsAsync<SharedMemoryDisconnectedException>(() => failing.Task.WaitAsync(this.TimeoutToken));
        await this.NextSentAsync();
        this.Answer(1, """[{"result":2}]""");
        Assert.Equal(2, await queued.Task.WaitAsync(this.TimeoutToken));
    }

    [Fact]
    public async Task AnAnswerWithTheWrongNumberOfResults_FailsTheBatchsCalls()
    {
        var batcher = this.CreateBatcher(maxBatchBytes: 1 << 20);
        var call = Call("a");
        batcher.Enqueue(call);
        await this.NextSentAsync();
        this.Answer(0, """[{"result":1},{"result":2}]""");
        var error = await Assert.ThrowsAsync<SharedMemoryException>(() => call.Task.WaitAsync(this.TimeoutToken));
        Assert.Contains("batch of 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AResultItsReaderCannotRead_FailsThatCallOnly_AndLaterCallsStillGo()
    {
        var batcher = this.CreateBatcher(maxBatchBytes: 1 << 20);

        // A lone call, then two in one batch: a reader that throws (as a value's constructor or converter may) fails
        // its own call, on either path, and neither hangs the batcher nor escapes onto the thread pool.
        var lone = new BatchedCall<long>(RpcMethods.Get, ["lone"], 100, static (_, _) => throw new FormatException("unreadable"), CancellationToken.None);
        batcher.Enqueue(lone);
        await this.NextSentAsync();
        var unreadable = new BatchedCall<long>(RpcMethods.Get, ["unreadable"], 100, static (_, _) => throw new ArgumentException("unreadable"), CancellationToken.None);
        var readable = Call("readable");
        batcher.Enqueue(unreadable);
        batcher.Enqueue(readable);

        this.Answer(0, """[{"result":1}]""");
        await Assert.ThrowsAsync<FormatException>(() => lone.Task.WaitAsync(this.TimeoutToken));
        await this.NextSentAsync();
        this.Answer(1, """[{"result":1},{"result":2}]""");
        await Assert.ThrowsAsync<ArgumentException>(() => unreadable.Task.WaitAsync(this.TimeoutToken));
        Assert.Equal(2, await readable.Task.WaitAsync(this.TimeoutToken));

        var later = Call("later");
        batcher.Enqueue(later);
        await this.NextSentAsync();
        this.Answer(2, """[{"result":3}]""");
        Assert.Equal(3, await later.Task.WaitAsync(this.TimeoutToken));
    }

    [Fact]
    public async Task ACallerThatBlocksOnItsNextCall_InsideItsContinuation_FindsItSent()
    {
        var batcher = this.CreateBatcher(maxBatchBytes: 1 << 20);
        var first = Call("first");
        batcher.Enqueue(first);
        await this.NextSentAsync();

        // Runs where the first call completes, and blocks there until its next call has gone to the master.
        var next = Call("next");
        var blockedAndSaw = first.Task.ContinueWith(
            _ =>
            {
                batcher.Enqueue(next);
                return this.sentSignal.Wait(TimeSpan.FromSeconds(30));
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        this.Answer(0, """[{"result":1}]""");
        Assert.True(await blockedAndSaw.WaitAsync(this.TimeoutToken), "the next call was held back behind its caller's continuation");
        Assert.Equal(["next"], this.sent[1].Calls);
    }

    [Fact]
    public async Task ACallerThatBlocksOnAnotherCallOfAFailedBatch_InsideItsContinuation_SeesThatOneFailToo()
    {
        var batcher = this.CreateBatcher(maxBatchBytes: 1 << 20);
        batcher.Enqueue(Call("first"));
        await this.NextSentAsync();
        var calls = new[] { Call("a"), Call("b") };
        foreach (var call in calls)
        {
            batcher.Enqueue(call);
        }

        this.Answer(0, """[{"result":1}]""");
        await this.NextSentAsync();

        // Runs where the first call of the batch fails, and blocks there until the second has failed as well.
        var blockedAndSaw = calls[0].Task.ContinueWith(
            _ => ((IAsyncResult)calls[1].Task).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        this.sent[1].Answer.SetException(new SharedMemoryDisconnectedException("gone"));
        Assert.True(await blockedAndSaw.WaitAsync(this.TimeoutToken), "the second call's failure was held behind the first's continuation");
        await Assert.ThrowsAsync<SharedMemoryDisconnectedException>(() => calls[1].Task.WaitAsync(this.TimeoutToken));
    }

    private static BatchedCall<long> Call(string key, CancellationToken cancellationToken = default, int bytes = 100) =>
        new(RpcMethods.Get, [key], bytes, static (result, _) => result.GetInt64(), cancellationToken);

    private CallBatcher CreateBatcher(int maxBatchBytes) => new(
        batch =>
        {
            var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (this.sent)
            {
                this.sent.Add(([.. batch.Outgoing!.Select(c => (string)c.Arguments[0]!)], answer));
            }

            this.sentSignal.Release();
            return answer.Task;
        },
        JsonSerializerOptions.Default,
        maxBatchBytes);

    private Task NextSentAsync() => this.sentSignal.WaitAsync(this.TimeoutToken);

    private void Answer(int batch, string json) => this.sent[batch].Answer.SetResult(JsonDocument.Parse(json).RootElement);
}
