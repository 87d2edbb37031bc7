using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace Rx.SharedMemory;

/// <summary>Builds <see cref="ProcessStartInfo"/> for workers.</summary>
public static class WorkerStartInfo
{
    /// <summary>
    /// Starts this same program again with other arguments, the <c>cluster.fork()</c> pattern: the program checks
    /// <see cref="SharedMemoryWorker.IsWorkerProcess"/> to know which part it plays.
    /// </summary>
    /// <param name="arguments">The worker's command-line arguments.</param>
    /// <returns>Start info that runs this program's executable (or <c>dotnet</c> with this program's assembly, when that is how it runs).</returns>
    /// <exception cref="InvalidOperationException">The program's path cannot be found.</exception>
    [UnconditionalSuppressMessage("SingleFile", "IL3000", Justification = "Read only under the dotnet host, which runs an entry assembly from its file: a single-file application is its own executable.")]
    public static ProcessStartInfo ForThisProgram(params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this program's executable is unknown.");
        var startInfo = new ProcessStartInfo(host) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            var entry = Assembly.GetEntryAssembly()?.Location;
            if (string.IsNullOrEmpty(entry))
            {
                throw new InvalidOperationException("This program runs under 'dotnet' but its entry assembly's path is unknown.");
            }

            startInfo.ArgumentList.Add(entry);
        }

        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        return startInfo;
    }

    /// <summary>Runs a .NET program's assembly with <c>dotnet</c>, the same runtime host as this process when it has one.</summary>
    /// <param name="assemblyPath">The path of the program's <c>.dll</c>.</param>
    /// <param name="arguments">The worker's command-line arguments.</param>
    /// <returns>The start info.</returns>
    public static ProcessStartInfo ForAssembly(string assemblyPath, params string[] arguments)
    {
        ArgumentException.ThrowIfNullOrEmpty(assemblyPath);
        ArgumentNullException.ThrowIfNull(arguments);
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (string.IsNullOrEmpty(host))
        {
            host = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase) ? path : "dotnet";
        }

        var startInfo = new ProcessStartInfo(host) { UseShellExecute = false };
        startInfo.ArgumentList.Add(assemblyPath);
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        return startInfo;
    }
}
