using System.Reactive.Subjects;
using Microsoft.Extensions.Logging;

namespace Rx.SharedMemory.Tests;

/// <summary>A logger factory and provider that keeps every log line, for tests to await or inspect.</summary>
public sealed class RecordingLoggerFactory : ILoggerFactory, ILoggerProvider
{
    private readonly ReplaySubject<LogRecord> records = new();

    /// <summary>Gets every line logged so far and from now on, in order.</summary>
    public IObservable<LogRecord> Records => this.records;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, this.records);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose() => this.records.Dispose();

    /// <summary>One log line.</summary>
    public sealed record LogRecord(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

    private sealed class Logger(string category, ISubject<LogRecord> records) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (records)
            {
                records.OnNext(new LogRecord(category, logLevel, eventId, formatter(state, exception), exception));
            }
        }
    }
}
