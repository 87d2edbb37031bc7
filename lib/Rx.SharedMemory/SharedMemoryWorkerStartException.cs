namespace Rx.SharedMemory;

/// <summary>
/// A worker did not come online: its program could not be started, exited before it connected, or did not connect
/// within <see cref="SharedMemoryOptions.WorkerStartTimeout"/> (the master then killed it). Thrown by
/// <see cref="SharedMemoryMaster.SpawnWorkerAsync"/>; the message names the program and says which of these happened.
/// </summary>
/// <remarks>
/// Which one happened: a program that could not be started has no <see cref="ProcessId"/> and an
/// <see cref="Exception.InnerException"/> from the operating system (a <see cref="System.ComponentModel.Win32Exception"/>);
/// one that exited has its <see cref="ExitCode"/>; one that did not connect in time has a process id, no exit code, and
/// a <see cref="TimeoutException"/> as its inner exception.
/// </remarks>
public sealed class SharedMemoryWorkerStartException : SharedMemoryException
{
    /// <summary>Initializes a new instance of the <see cref="SharedMemoryWorkerStartException"/> class.</summary>
    public SharedMemoryWorkerStartException()
        : base("A worker did not come online.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryWorkerStartException"/> class.</summary>
    /// <param name="message">The message.</param>
    public SharedMemoryWorkerStartException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryWorkerStartException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public SharedMemoryWorkerStartException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="SharedMemoryWorkerStartException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="fileName">The program that was started.</param>
    /// <param name="arguments">Its command line after the program, as one string.</param>
    /// <param name="processId">Its process id; <see langword="null"/> when it never started.</param>
    /// <param name="exitCode">Its exit code; <see langword="null"/> when it never started or did not exit by itself.</param>
    /// <param name="standardErrorTail">The last lines it wrote to standard error; <see langword="null"/> or empty for none.</param>
    /// <param name="innerException">The cause, if any.</param>
    public SharedMemoryWorkerStartException(string message, string fileName, string arguments, int? processId, int? exitCode, IReadOnlyList<string>? standardErrorTail, Exception? innerException)
        : base(message, innerException)
    {
        this.FileName = fileName;
        this.Arguments = arguments;
        this.ProcessId = processId;
        this.ExitCode = exitCode;
        this.StandardErrorTail = standardErrorTail ?? [];
    }

    /// <summary>Gets the program that was started (<see cref="System.Diagnostics.ProcessStartInfo.FileName"/>), when known.</summary>
    public string? FileName { get; }

    /// <summary>Gets the program's arguments as one command line (<see cref="System.Diagnostics.ProcessStartInfo.ArgumentList"/> quoted where needed, or <see cref="System.Diagnostics.ProcessStartInfo.Arguments"/>), when known.</summary>
    public string? Arguments { get; }

    /// <summary>Gets the process id; <see langword="null"/> when the program could not be started.</summary>
    public int? ProcessId { get; }

    /// <summary>
    /// Gets the exit code of a worker that exited before it connected; <see langword="null"/> when the program could
    /// not be started, or did not exit by itself (it did not connect in time and the master killed it).
    /// </summary>
    public int? ExitCode { get; }

    /// <summary>
    /// Gets the last lines the program wrote to standard error before the master gave up on it: at most
    /// <c>20</c> lines and <c>4,096</c> characters, oldest first. Empty when it wrote none, when it never started, and
    /// when the caller redirected standard error itself (<see cref="System.Diagnostics.ProcessStartInfo.RedirectStandardError"/>),
    /// since the master then reads none of it.
    /// </summary>
    public IReadOnlyList<string> StandardErrorTail { get; } = [];
}
