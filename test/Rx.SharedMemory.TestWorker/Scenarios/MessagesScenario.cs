using System.Text;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// messages MODE [N | order]: messages between this worker and its master.
/// <list type="bullet">
/// <item>receive: observes the master's messages and the key "order"; sets ready/&lt;id&gt;, and reports, in the order
/// each stream saw them, every message's JSON up to the message <c>"end"</c>, and with "order", every value of "order"
/// before -1, which it waits for.</item>
/// <item>send N: sends the master N messages <c>{"Seq": i}</c>, i from 1, then <c>"end"</c>, and exits once the master
/// answers with a message (a worker's messages still in its pipe when it exits are not read).</item>
/// <item>send-after-writes N: for each i from 1 to N, sets "after/i/x" and "after/i/y" to i and sends the master
/// <c>{"Seq": i}</c>, awaiting none of them (so the sets wait in a batch behind those in flight, and the messages
/// behind them, then <c>"end"</c>; awaits them all, and exits once the master answers with a message.</item>
/// <item>send-typed: sends the master the <see cref="Reading"/> ("worker", 2.5) written with
/// <see cref="ReadingJsonContext"/> (snake_case), and exits once the master answers with a message.</item>
/// <item>hold: observes the master's messages with an observer that never returns from its first, a queue of one
/// message, so that the worker stops reading its pipe; sets ready/&lt;id&gt; and waits to be killed.</item>
/// <item>hold-lock-wait: as hold, and waits for the lock "held" (which the master holds); sends the master
/// <c>"taken"</c> once its observer has taken the first message; once the third holds its pipe, makes a get (whose answer is read, and the read after it held) and sends the master <c>"blocked"</c>.
/// Once the master has gone, reports whether the wait failed with <see cref="SharedMemoryDisconnectedException"/>
/// ("lost") and <see cref="SharedMemoryWorker.Completion"/> completed ("completed").</item>
/// </list>
/// </summary>
internal sealed class MessagesScenario : Scenario<MessagesScenario.Report>
{
    public override SharedMemoryWorkerOptions? WorkerOptions(ScenarioArguments arguments) =>
        arguments[0] is "hold" or "hold-lock-wait" ? new SharedMemoryWorkerOptions { SubscriberQueueCapacity = 1 } : null;

    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        switch (arguments[0])
        {
            case "receive":
                {
                    var messages = new List<string>();
                    var order = new List<long>();
                    var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    var orderEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    var stateArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    using var changes = store.Observe("order").Subscribe(change =>
                    {
                        if (change.Kind == KeyChangeKind.Set)
                        {
                            long value = change.GetValue<long>();
                            if (value == -1)
                            {
                                orderEnded.TrySetResult();
                            }
                            else
                            {
                                order.Add(value);
                            }
                        }

                        stateArrived.TrySetResult();
                    });
                    using var received = store.Messages.Subscribe(message =>
                    {
                        string json = Encoding.UTF8.GetString(message.Json.Span);
                        if (json == "\"end\"")
                        {
                            ended.TrySetResult();
                            return;
                        }

                        messages.Add(json);
                    });
                    await stateArrived.Task.WaitAsync(timeout);
                    await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
                    await ended.Task.WaitAsync(timeout);
                    if (arguments.Count > 1 && arguments[1] == "order")
                    {
                        await orderEnded.Task.WaitAsync(timeout);
                    }

                    return new Report(messages, order);
                }

            case "send":
                {
                    int count = arguments.Int(1);
                    var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    using var answers = store.Messages.Subscribe(_ => answered.TrySetResult());
                    for (int i = 1; i <= count; i++)
                    {
                        await store.SendAsync(new Sequenced(i), timeout);
                    }

                    await store.SendAsync("end", timeout);
                    await answered.Task.WaitAsync(timeout);
                    return new Report([], []);
                }

            case "send-after-writes":
                {
                    int count = arguments.Int(1);
                    var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    using var answers = store.Messages.Subscribe(_ => answered.TrySetResult());
                    var calls = new List<Task>();
                    for (int i = 1; i <= count; i++)
                    {
                        calls.Add(store.SetAsync($"after/{i}/x", i, timeout).AsTask());
                        calls.Add(store.SetAsync($"after/{i}/y", i, timeout).AsTask());
                        calls.Add(store.SendAsync(new Sequenced(i), timeout).AsTask());
                    }

                    calls.Add(store.SendAsync("end", timeout).AsTask());
                    await Task.WhenAll(calls).WaitAsync(timeout);
                    await answered.Task.WaitAsync(timeout);
                    return new Report([], []);
                }

            case "send-typed":
                {
                    var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    using var answers = store.Messages.Subscribe(_ => answered.TrySetResult());
                    await store.SendAsync(new Reading("worker", 2.5), ReadingJsonContext.Default.Reading, timeout);
                    await answered.Task.WaitAsync(timeout);
                    return new Report([], []);
                }

            case "hold":
                {
                    using var never = new ManualResetEventSlim();
                    using var received = store.Messages.Subscribe(_ => never.Wait(timeout));
                    await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
                    await Task.Delay(Timeout.Infinite, timeout);
                    return new Report([], []);
                }

            case "hold-lock-wait":
                {
                    // The first observer blocks on the first message and has a queue of one: once it has taken the
                    // first (the master then sends two more), the third holds the pipe. The second observer sees each
                    // message as it is handed out, so the third's hold is set once it has.
                    using var never = new ManualResetEventSlim();
                    var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    var third = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    int seen = 0;
                    using var blocking = store.Messages.Subscribe(_ =>
                    {
                        first.TrySetResult();
                        never.Wait(timeout);
                    });
                    using var counting = store.Messages.Subscribe(_ =>
                    {
                        if (++seen == 3)
                        {
                            third.TrySetResult();
                        }
                    });
                    var waiting = store.AcquireLockAsync("held", TimeSpan.FromMinutes(10), timeout).AsTask();
                    await store.SetAsync($"ready/{store.WorkerId}", true, timeout);
                    await first.Task.WaitAsync(timeout);
                    await store.SendAsync("taken", timeout);
                    await third.Task.WaitAsync(timeout);

                    // A frame read after the hold was set (this get's answer): the read after it is held.
                    var probe = store.GetAsync<int>("probe", timeout).AsTask();
                    await store.SendAsync("blocked", timeout);
                    var outcomes = new List<string>();
                    try
                    {
                        await using var held = await waiting;
                        outcomes.Add("granted");
                    }
                    catch (SharedMemoryDisconnectedException)
                    {
                        outcomes.Add("lost");
                    }

                    await store.Completion.WaitAsync(timeout);
                    outcomes.Add("completed");
                    await probe.ContinueWith(_ => { }, TaskScheduler.Default);
                    return new Report(outcomes, []);
                }

            default:
                throw new ArgumentException($"Unknown mode '{arguments[0]}'.", nameof(context));
        }
    }

    /// <summary>A numbered message.</summary>
    /// <param name="Seq">Its number.</param>
    public sealed record Sequenced(int Seq);

    /// <summary>What a receiving worker saw.</summary>
    /// <param name="Messages">Each message's JSON, in the order observed, the end marker left out.</param>
    /// <param name="Order">Each value set of the key "order", in the order observed.</param>
    public sealed record Report(List<string> Messages, List<long> Order);
}
