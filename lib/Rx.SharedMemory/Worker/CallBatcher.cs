using System.Text.Json;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Transport;

namespace Rx.SharedMemory.Worker;

/// <summary>
/// Sends a worker's data operations to the master in <c>batch</c> requests, many to one frame, with at most one batch
/// in flight: a call made while the connection is idle goes at once, alone, and calls made while a batch is on its
/// way wait and go together in the next one. Under load a JSON-RPC message, its parse, its dispatch and its response
/// then carry tens of operations instead of one, on both sides; a lone call loses nothing.
/// </summary>
/// <remarks>
/// When a batch's results arrive, each call is completed on a thread-pool work item of its own (so that the callers'
/// continuations run in parallel, never on the pipe's reader thread), and the next batch is sent by a work item queued
/// after them: the calls those continuations make join it instead of trickling out one by one. A lone call is
/// completed on the pool thread that read its result, once what waited has been sent.
/// </remarks>
internal sealed class CallBatcher
{
    private readonly object gate = new();
    private readonly Func<BatchRequest, Task<JsonElement>> send;
    private readonly JsonSerializerOptions options;
    private readonly int maxBatchBytes;
    private readonly SharedRegion? region;
    private List<BatchedCall> queued = [];
    private bool inFlight;

    // Each call's number, from 1 in the order enqueued; the first call of the batch in flight while it waits for its
    // answer (0 otherwise); and the waits for every call up to a number to be settled (answered, failed, or dropped
    // before it went). Calls settle in the order enqueued: the tail of a batch the master did not run goes back to the
    // head of the queue.
    private long enqueued;
    private long unanswered;
    private List<(long Calls, TaskCompletionSource Done)>? settleWaits;

    /// <param name="send">Sends one batch request and returns its result; failures are already the worker's exceptions.</param>
    /// <param name="options">How the worker (de)serializes values.</param>
    /// <param name="maxBatchBytes">The size past which no further call joins a batch: the master refuses frames much larger than its largest value.</param>
    /// <param name="region">The shared region large values travel through, or null.</param>
    public CallBatcher(Func<BatchRequest, Task<JsonElement>> send, JsonSerializerOptions options, int maxBatchBytes, SharedRegion? region = null)
    {
        this.send = send;
        this.options = options;
        this.maxBatchBytes = maxBatchBytes;
        this.region = region;
    }

    public void Enqueue(BatchedCall call)
    {
        List<BatchedCall>? batch;
        lock (this.gate)
        {
            call.Sequence = ++this.enqueued;
            this.queued.Add(call);
            if (this.inFlight)
            {
                return;
            }

            batch = this.TakeBatch();
        }

        if (batch is not null)
        {
            _ = this.SendAsync(batch);
        }
    }

    /// <summary>
    /// Returns a task that completes once every call enqueued so far is settled: the master has answered it (it ran,
    /// or was refused), it failed, or it was canceled before it went. It never faults.
    /// </summary>
    public Task WhenEnqueuedSettledAsync()
    {
        lock (this.gate)
        {
            if (this.FirstUnsettled() > this.enqueued)
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (this.settleWaits ??= []).Add((this.enqueued, done));
            return done.Task;
        }
    }

    /// <summary>The number of the first call not settled; past every number when all are. Under the gate.</summary>
    private long FirstUnsettled() =>
        this.unanswered != 0 ? this.unanswered : this.queued.Count > 0 ? this.queued[0].Sequence : long.MaxValue;

    /// <summary>Lets go the waits whose calls are all settled now. Under the gate; their continuations run asynchronously.</summary>
    private void ReleaseSettleWaits()
    {
        if (this.settleWaits is { Count: > 0 } waits)
        {
            long first = this.FirstUnsettled();
            waits.RemoveAll(w => w.Calls < first && w.Done.TrySetResult());
        }
    }

    /// <summary>Takes the next batch off the queue, or, with nothing to send, marks the connection idle. Under the gate.</summary>
    private List<BatchedCall>? TakeBatch()
    {
        var batch = new List<BatchedCall>();
        int bytes = 0;
        int gets = 0;
        int taken = 0;
        for (; taken < this.queued.Count; taken++)
        {
            var call = this.queued[taken];
            if (call.IsOver)
            {
                call.ReleaseArguments(); // canceled before it went
                continue;
            }

            bool isGet = call.Method == RpcMethods.Get;
            if (batch.Count > 0 && (bytes + call.Bytes > this.maxBatchBytes || (isGet && gets == ProtocolLimits.MaxGetsPerBatch)))
            {
                break;
            }

            batch.Add(call);
            bytes += call.Bytes;
            gets += isGet ? 1 : 0;
        }

        this.queued.RemoveRange(0, taken);
        this.inFlight = batch.Count > 0;
        this.unanswered = this.inFlight ? batch[0].Sequence : 0;
        this.ReleaseSettleWaits();
        return this.inFlight ? batch : null;
    }

    private async Task SendAsync(List<BatchedCall> batch)
    {
        JsonElement results = default;
        Exception? failure = null;
        try
        {
            results = await this.send(new BatchRequest(batch, this.region is null ? null : new RegionWriter(this.region))).ConfigureAwait(false);
            if (results.ValueKind != JsonValueKind.Array || results.GetArrayLength() != batch.Count)
            {
                throw new SharedMemoryException($"The master answered a batch of {batch.Count} calls with {results.ValueKind} {(results.ValueKind == JsonValueKind.Array ? results.GetArrayLength() : 0)} results.");
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        // The calls the master did not run (its answer was full) go back to the head of the queue, in order, as they
        // are: they go first in the next batch, before any later call.
        var ran = failure is null ? this.TakeBackNotRun(batch, results) : batch;
        lock (this.gate)
        {
            this.unanswered = 0;
            this.ReleaseSettleWaits();
        }

        foreach (var call in ran)
        {
            call.ReleaseArguments();
        }

        // What waits goes before any caller's code runs on this thread (or, on failure, from a work item of its own):
        // a caller that blocks on its next call must find it sent.
        if (failure is not null)
        {
            // From a work item, not inline: once the connection is gone every send fails at once, and inline each
            // queued batch would add to this stack.
            ThreadPool.UnsafeQueueUserWorkItem(static batcher => batcher.SendNext(), this, preferLocal: false);
            if (batch.Count == 1)
            {
                batch[0].Fail(failure);
                return;
            }

            // Each from a work item of its own, as results are: a caller whose code after one failed call blocks on
            // another call of the batch would otherwise hold this loop, and that call's failure, for ever.
            foreach (var call in batch)
            {
                call.FailLater(failure);
            }

            return;
        }

        this.ResolveRegionResults(ran, results);
        if (ran.Count == 1)
        {
            // The common case of a lone call: completed here, on the pool thread that read its result, so that its
            // caller goes on without one more hop.
            ran[0].Outcome = results[0];
            ran[0].Options = this.options;
            this.SendNext();
            ran[0].Complete();
            return;
        }

        // Enumerated, not indexed: finding the n-th of an array of objects walks the ones before it.
        int index = 0;
        foreach (var outcome in results.EnumerateArray())
        {
            if (index == ran.Count)
            {
                break;
            }

            var call = ran[index++];
            call.Outcome = outcome;
            call.Options = this.options;
            ThreadPool.UnsafeQueueUserWorkItem(call, preferLocal: false);
        }

        // Queued after the completions, so that the calls their callers make next join one batch.
        ThreadPool.UnsafeQueueUserWorkItem(static batcher => batcher.SendNext(), this, preferLocal: false);
    }

    /// <summary>Puts the calls answered <see cref="RpcErrorCodes.NotRun"/> (the tail of the batch) back at the head of the queue, and returns those that ran.</summary>
    private List<BatchedCall> TakeBackNotRun(List<BatchedCall> batch, JsonElement results)
    {
        // Almost always none: the last result says so at once.
        if (!BatchAnswer.IsNotRun(results[batch.Count - 1]))
        {
            return batch;
        }

        int ran = 0;
        foreach (var outcome in results.EnumerateArray())
        {
            if (ran > 0 && BatchAnswer.IsNotRun(outcome))
            {
                break;
            }

            ran++;
        }

        lock (this.gate)
        {
            this.queued.InsertRange(0, batch.Skip(ran));
        }

        return batch.GetRange(0, ran);
    }

    /// <summary>Reads every result that waits in the shared region, then gives the region back to the master for its next answer.</summary>
    /// <param name="ran">The calls that ran: the first of <paramref name="results"/>.</param>
    /// <param name="results">The batch's results.</param>
    private void ResolveRegionResults(List<BatchedCall> ran, JsonElement results)
    {
        if (this.region is null)
        {
            return;
        }

        bool any = false;
        int index = 0;
        foreach (var outcome in results.EnumerateArray())
        {
            if (index == ran.Count)
            {
                break;
            }

            var call = ran[index++];
            call.Options = this.options;
            if (BatchAnswer.TryReadRegionResult(outcome, out long version, out long offset, out long length))
            {
                call.ResolveFromRegion(this.region, version, offset, length);
                any = true;
            }
        }

        if (any)
        {
            try
            {
                this.region.ReleaseToWorker();
            }
            catch (ObjectDisposedException)
            {
                // The worker is closing and has unmapped the region; the master has gone with it or soon will.
            }
        }
    }

    private void SendNext()
    {
        List<BatchedCall>? batch;
        lock (this.gate)
        {
            batch = this.TakeBatch();
        }

        if (batch is not null)
        {
            _ = this.SendAsync(batch);
        }
    }
}
