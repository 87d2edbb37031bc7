using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace Rx.SharedMemory.Tests;

/// <summary>A worker process that closes its read end and goes on writing: its calls run, and the master takes no fault of its own from the answers it cannot write.</summary>
public sealed class ClosedReadEndTests : TestBase
{
    [Fact]
    public async Task AWorkerThatClosedItsReadEnd_HasItsCallsRun_AndTheMasterLogsNoFailureOfItsOwn()
    {
        using var logs = new RecordingLoggerFactory();
        var failures = new ConcurrentQueue<RecordingLoggerFactory.LogRecord>();
        using var recording = logs.Records.Where(r => r.Level >= LogLevel.Warning).Subscribe(failures.Enqueue);
        var stoppedReading = new ConcurrentQueue<RecordingLoggerFactory.LogRecord>();
        using var told = logs.Records.Where(r => r.EventId.Id == 113).Subscribe(stoppedReading.Enqueue);
        await using var master = new SharedMemoryMaster(null, logs);
        const int Sets = 50;

        // The set after the others: the master reads it only once it has answered (or tried to answer) every set before.
        var end = master.Changes.FirstAsync(c => c.Key == "closed/end").ToTask(this.TimeoutToken);

        // A worker in bash (which takes descriptors past 9): closes the pipe it reads, then sends hello and its sets
        // without waiting for answers, and stays alive until it is killed.
        var script = $$"""
            eval "exec $RX_SHAREDMEMORY_PIPE_IN<&-"
            send() { printf 'Content-Length: %d\r\n\r\n%s' "${#1}" "$1" >&"$RX_SHAREDMEMORY_PIPE_OUT"; }
            send '{"jsonrpc":"2.0","id":0,"method":"hello","params":[1,'$$']}'
            i=1
            while [ $i -le {{Sets}} ]; do
              send '{"jsonrpc":"2.0","id":'$i',"method":"set","params":["closed/'$i'",'$i']}'
              i=$((i + 1))
            done
            send '{"jsonrpc":"2.0","id":"end","method":"set","params":["closed/end",true]}'
            exec sleep 600
            """;
        var startInfo = new ProcessStartInfo("/bin/bash") { UseShellExecute = false, ArgumentList = { "-c", script } };
        var worker = await master.SpawnWorkerAsync(startInfo, this.TimeoutToken);
        try
        {
            await end;
            for (int i = 1; i <= Sets; i++)
            {
                Assert.Equal(i, await master.Store.GetAsync<int>($"closed/{i}", this.TimeoutToken));
            }

            // The answers the master could not write are the worker's loss, not a request that failed in the master;
            // it says once that the worker stopped reading.
            Assert.Empty(failures);
            Assert.Single(stoppedReading);
        }
        finally
        {
            worker.Kill();
        }
    }
}
