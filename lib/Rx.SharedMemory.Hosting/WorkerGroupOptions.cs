namespace Rx.SharedMemory.Hosting;

/// <summary>Workers of one kind that a hosted master keeps running: one program, its arguments, how many, how restarted.</summary>
public sealed class WorkerGroupOptions
{
    /// <summary>Gets or sets the group's name, unique among the groups: log lines and health reports name a worker by it and its index.</summary>
    public string Name { get; set; } = "";

    /// <summary>Gets or sets how many workers of the group run at once; 0 starts none. Default 1.</summary>
    public int Count { get; set; } = 1;

    /// <summary>
    /// Gets or sets the program each worker runs: empty for this same program (the <c>cluster.fork()</c> pattern,
    /// <see cref="WorkerStartInfo.ForThisProgram"/>), a <c>.dll</c> to run with <c>dotnet</c>
    /// (<see cref="WorkerStartInfo.ForAssembly"/>), or an executable. A relative path with a directory or a
    /// <c>.dll</c> is taken from the application's folder (<see cref="AppContext.BaseDirectory"/>); a bare name is
    /// looked up on <c>PATH</c>.
    /// </summary>
    public string? Program { get; set; }

    /// <summary>Gets the worker's command-line arguments.</summary>
    public IList<string> Arguments { get; } = [];

    /// <summary>Gets or sets the worker's working directory; empty for the host's.</summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>Gets environment variables set for the worker, beside those it inherits.</summary>
    public IDictionary<string, string> Environment { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Gets or sets what happens when a worker of the group exits while the host runs.</summary>
    public WorkerRestartOptions Restart { get; set; } = new();
}
