using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// no-reflection: not a worker. A program with reflection-based serialization disabled (as under Native AOT), given
/// JsonSerializerOptions without a TypeInfoResolver, so that no contract can be found. Reports one line each, as
/// "&lt;case&gt; &lt;exception type&gt;: &lt;message&gt;": a master with that setting alone, one with a wrong MaxEntries too (and
/// whether the caller's options were left writable), and the hosted master's and hosted worker's starts.
/// </summary>
internal static class NoReflection
{
    /// <summary>Runs first in the process: the switch is read once, when System.Text.Json first needs it.</summary>
    public static async Task RunAsync(Report report)
    {
        AppContext.SetSwitch("System.Text.Json.JsonSerializer.IsReflectionEnabledByDefault", false);
        report.Line($"reflection {JsonSerializer.IsReflectionEnabledByDefault}");

        report.Line(Outcome("master", () => new SharedMemoryMaster(new SharedMemoryOptions { JsonSerializerOptions = new JsonSerializerOptions() })));
        var json = new JsonSerializerOptions();
        report.Line(Outcome("master-two-wrong", () => new SharedMemoryMaster(new SharedMemoryOptions { JsonSerializerOptions = json, MaxEntries = 0 })));
        report.Line($"caller-options-read-only {json.IsReadOnly}");

        report.Line(await StartOutcomeAsync("hosted-master", services => services.AddSharedMemoryMaster(options =>
        {
            options.Store.JsonSerializerOptions = new JsonSerializerOptions();
            options.Store.MaxEntries = 0;
        })));
        report.Line(await StartOutcomeAsync("hosted-worker", services => services.AddSharedMemoryWorker(options =>
            options.Connection.JsonSerializerOptions = new JsonSerializerOptions())));
    }

    private static string Outcome(string name, Func<IAsyncDisposable> make)
    {
        try
        {
            _ = make();
            return $"{name} made";
        }
        catch (Exception ex)
        {
            return $"{name} {ex.GetType().Name}: {ex.Message}";
        }
    }

    private static async Task<string> StartOutcomeAsync(string name, Action<IServiceCollection> configure)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        configure(builder.Services);
        using var host = builder.Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await host.StartAsync(timeout.Token);
            await host.StopAsync(timeout.Token);
            return $"{name} started";
        }
        catch (Exception ex)
        {
            return $"{name} {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}";
        }
    }
}
