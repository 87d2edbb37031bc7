using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Rx.SharedMemory.Logging;

namespace Rx.SharedMemory.Tests;

/// <summary>The library's log lines: source-generated, each with an event id of its own.</summary>
public sealed partial class LoggingTests : TestBase
{
    [Fact]
    public void EveryLogLine_HasANamedEventIdOfItsOwn()
    {
        // The core's and the hosting package's lines share one space of ids: a filter names an id, not an assembly.
        var lines = new[] { typeof(Log), typeof(Rx.SharedMemory.Hosting.Logging.Log), typeof(Rx.SharedMemory.Redis.Logging.Log) }
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Select(m => (Method: m.Name, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .ToArray();

        Assert.NotEmpty(lines);
        Assert.All(lines, line =>
        {
            Assert.NotNull(line.Attribute);
            Assert.True(line.Attribute.EventId > 0, $"{line.Method} has no event id.");
            Assert.Equal(line.Method, line.Attribute.EventName);
        });
        var repeated = lines.GroupBy(l => l.Attribute!.EventId).Where(g => g.Count() > 1).Select(g => g.Key).ToArray();
        Assert.True(repeated.Length == 0, $"Event ids used twice: {string.Join(", ", repeated)}");
    }

    [Fact]
    public void Library_LogsOnlyThroughItsSourceGeneratedLines()
    {
        var library = Path.Combine(ReadmeTests.RepositoryRoot(), "lib");
        var direct = new[] { "Rx.SharedMemory", "Rx.SharedMemory.Hosting", "Rx.SharedMemory.Redis" }
            .SelectMany(project => Directory.EnumerateFiles(Path.Combine(library, project), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: f, Line: i + 1, Text: line)))
            .Where(l => DirectLogCall().IsMatch(l.Text))
            .Select(l => $"{Path.GetRelativePath(library, l.File)}:{l.Line}: {l.Text.Trim()}")
            .ToArray();

        Assert.True(direct.Length == 0, "Log lines without an event id (add them to the project's Logging/Log.cs):\n" + string.Join('\n', direct));
    }

    [Fact]
    public async Task WorkerLifecycle_IsLoggedWithTheMastersEventIds()
    {
        using var logs = new RecordingLoggerFactory();
        await using var master = new SharedMemoryMaster(loggerFactory: logs);
        var report = Path.Combine(Path.GetTempPath(), $"rxsm-logging-{Guid.NewGuid():N}.json");
        IWorker worker;
        try
        {
            worker = await master.SpawnWorkerAsync(WorkerStartInfo.ForAssembly(Path.Combine(AppContext.BaseDirectory, "Rx.SharedMemory.TestWorker.dll"), "set", report, "k", "1"), this.TimeoutToken);
            Assert.Equal(0, await worker.Exited.WaitAsync(this.TimeoutToken));
        }
        finally
        {
            File.Delete(report);
        }

        // The records replay from the start: the order of these waits does not matter.
        var online = await this.FirstAsync(logs.Records, r => r.EventId.Id == 100);
        var exited = await this.FirstAsync(logs.Records, r => r.EventId.Id == 101);
        Assert.Equal((LogLevel.Information, "WorkerOnline", "Rx.SharedMemory.Master"), (online.Level, online.EventId.Name, online.Category));
        Assert.Contains($"Worker {worker.Id} (pid {worker.ProcessId}) is online", online.Message, StringComparison.Ordinal);
        Assert.Equal($"Worker {worker.Id} (pid {worker.ProcessId}) exited with code 0.", exited.Message);
    }

    [GeneratedRegex(@"\.Log(Trace|Debug|Information|Warning|Error|Critical)?\(")]
    private static partial Regex DirectLogCall();
}
