using System.Diagnostics;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>spawn-child: starts a child process and reports whether it inherited this worker's pipes to the master.</summary>
internal sealed class SpawnChildScenario : Scenario<SpawnChildScenario.Report>
{
    protected override Task<Report> RunAsync(ScenarioContext context)
    {
        var pipes = context.PipeHandles.Select(fd => new FileInfo($"/proc/self/fd/{fd}").LinkTarget).ToArray();
        using var child = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        var inherited = Directory.GetFiles($"/proc/{child.Id}/fd").Select(f => new FileInfo(f).LinkTarget).Where(pipes.Contains).ToArray();
        child.Kill();
        return Task.FromResult(new Report(pipes, inherited.Length));
    }

    /// <param name="Pipes">What this worker's two pipe descriptors link to.</param>
    /// <param name="Inherited">How many of them the child holds.</param>
    internal sealed record Report(string?[] Pipes, int Inherited);
}
