using System.Text.Json;
using Microsoft.VisualStudio.Threading;
using Nerdbank.Streams;
using StreamJsonRpc;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// A worker's message waits for the answers of the data operations called before it, against a master whose batch
/// answers the test holds; canceled meanwhile, it is never written. (Against a real master: MessagesTests.)
/// </summary>
public sealed class WorkerMessageOrderTests : TestBase
{
    [Fact]
    public async Task AMessage_WaitsForTheAnswersOfTheCallsBeforeIt_AndOneCanceledMeanwhile_IsNeverWritten()
    {
        // Repeated: without the order kept past a canceled message, the third overtook the first in most runs.
        for (int run = 0; run < 20; run++)
        {
            var (workerEnd, masterEnd) = FullDuplexStream.CreatePair();
            var master = new HeldBatchMaster();
            using var rpc = new JsonRpc(new HeaderDelimitedMessageHandler(masterEnd, masterEnd, new SystemTextJsonFormatter()), master)
            {
                // One message at a time, in the order read, as the master runs a connection's messages.
                SynchronizationContext = new NonConcurrentSynchronizationContext(sticky: false),
            };
            rpc.StartListening();
            await using var worker = await SharedMemoryWorker.ConnectAsync(workerEnd, workerEnd, loggerFactory: null, this.TimeoutToken);

            // The first set goes at once and is held; the second waits for it, and the messages for both.
            var first = worker.SetAsync("a", 1, this.TimeoutToken).AsTask();
            Assert.Equal(["a"], await master.NextBatchAsync(this.TimeoutToken));
            var second = worker.SetAsync("b", 2, this.TimeoutToken).AsTask();
            var one = worker.SendAsync("one", this.TimeoutToken).AsTask();
            using var cancel = new CancellationTokenSource();
            var two = worker.SendAsync("two", cancel.Token).AsTask();
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => two);
            var three = worker.SendAsync("three", this.TimeoutToken).AsTask();

            master.AnswerNext();
            Assert.Equal(["b"], await master.NextBatchAsync(this.TimeoutToken));
            Assert.False(one.IsCompleted);
            master.AnswerNext();
            await Task.WhenAll(first, second, one, three).WaitAsync(this.TimeoutToken);

            // A message sent after the others comes after them: once it is here, so is every message before it.
            await worker.SendAsync("last", this.TimeoutToken);
            await master.LastMessage.WaitAsync(this.TimeoutToken);
            Assert.Equal(["batch [a]", "batch [b]", "message one", "message three", "message last"], master.Received);
        }
    }

    /// <summary>A master with batches and messages whose batches wait until the test answers them, one at a time.</summary>
    private sealed class HeldBatchMaster
    {
        private readonly SemaphoreSlim answers = new(0);
        private readonly SemaphoreSlim batches = new(0);
        private readonly List<string[]> batchKeys = [];
        private readonly TaskCompletionSource lastMessage = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<string> Received { get; } = [];

        [JsonRpcMethod("hello")]
        public object Hello(int protocolVersion, int processId) =>
            new { protocolVersion, workerId = 1, maxKeyLength = 100, maxValueBytes = 1000, features = new[] { "batch", "messages" } };

        [JsonRpcMethod("batch")]
        public async Task<object> BatchAsync(JsonElement calls)
        {
            var keys = calls.EnumerateArray().Select(call => call[1].GetString()!).ToArray();
            lock (this.Received)
            {
                this.Received.Add($"batch [{string.Join(',', keys)}]");
                this.batchKeys.Add(keys);
            }

            this.batches.Release();
            await this.answers.WaitAsync();
            return keys.Select(_ => new { result = 1 }).ToArray();
        }

        [JsonRpcMethod("message", UseSingleObjectParameterDeserialization = false)]
        public void Message(JsonElement message)
        {
            lock (this.Received)
            {
                this.Received.Add($"message {message.GetString()}");
            }

            if (message.GetString() == "last")
            {
                this.lastMessage.TrySetResult();
            }
        }

        public async Task<string[]> NextBatchAsync(CancellationToken cancellationToken)
        {
            await this.batches.WaitAsync(cancellationToken);
            lock (this.Received)
            {
                return this.batchKeys[^1];
            }
        }

        public void AnswerNext() => this.answers.Release();

        public Task LastMessage => this.lastMessage.Task;
    }
}
