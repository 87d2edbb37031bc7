using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rx.SharedMemory;
using Rx.SharedMemory.Hosting;
using Rx.SharedMemory.Hosting.Master;
using Rx.SharedMemory.Hosting.Worker;

// In the namespace of IServiceCollection, as Microsoft.Extensions' own registrations are, so that they are found without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a shared-memory master, or a worker's connection to one, with the host.</summary>
public static class SharedMemoryServiceCollectionExtensions
{
    // Binding settings from configuration reflects over the options' types; the registrations in code need no reflection.
    private const string Binding = "The settings are bound from configuration by reflection.";

    /// <summary>
    /// Runs a <see cref="SharedMemoryMaster"/> with the host: the master (a singleton, registered unless one already
    /// is) and its <see cref="SharedMemoryMaster.Store"/> as <see cref="ISharedStore"/>; a hosted service that starts
    /// the configured workers when the host starts (it has started once they are online), restarts those that exit
    /// with back-off (<see cref="WorkerRestartOptions"/>), and stops them and the master when the host stops. The
    /// settings are checked when the host starts. Restart delays follow the <see cref="TimeProvider"/> registered in
    /// the container, or the system clock.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the master's settings in code; null for the defaults (no workers).</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddSharedMemoryMaster(this IServiceCollection services, Action<SharedMemoryMasterHostOptions>? configure = null) =>
        Configured(services, AddMaster, configure);

    /// <summary>
    /// Runs a <see cref="SharedMemoryMaster"/> with the host, as <see cref="AddSharedMemoryMaster(IServiceCollection, Action{SharedMemoryMasterHostOptions})"/>
    /// does, with its settings bound from <paramref name="configuration"/> (for example <c>builder.Configuration.GetSection("SharedMemory")</c>;
    /// see <see cref="SharedMemoryMasterHostOptions"/>). An invalid setting fails the host's start with a message that names its key.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section that holds the settings.</param>
    /// <returns><paramref name="services"/>.</returns>
    [RequiresUnreferencedCode(Binding)]
    [RequiresDynamicCode(Binding)]
    public static IServiceCollection AddSharedMemoryMaster(this IServiceCollection services, IConfiguration configuration) =>
        Bound(services, AddMaster, configuration);

    /// <summary>
    /// Connects this worker program to the master that started it when the host starts (or when the store is first
    /// resolved, if that is earlier: a hosted service may take it in its constructor), and registers the connected
    /// <see cref="SharedMemoryWorker"/> as <see cref="ISharedStore"/>. Resolving it in a process that no master started
    /// throws <see cref="InvalidOperationException"/>. The connection closes when the host stops; by default the
    /// application stops when the master goes (<see cref="SharedMemoryWorkerHostOptions.StopApplicationOnDisconnect"/>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the worker's settings in code; null for the defaults.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddSharedMemoryWorker(this IServiceCollection services, Action<SharedMemoryWorkerHostOptions>? configure = null) =>
        Configured(services, AddWorker, configure);

    /// <summary>
    /// Connects this worker program to its master with the host, as <see cref="AddSharedMemoryWorker(IServiceCollection, Action{SharedMemoryWorkerHostOptions})"/>
    /// does, with its settings bound from <paramref name="configuration"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section that holds the settings.</param>
    /// <returns><paramref name="services"/>.</returns>
    [RequiresUnreferencedCode(Binding)]
    [RequiresDynamicCode(Binding)]
    public static IServiceCollection AddSharedMemoryWorker(this IServiceCollection services, IConfiguration configuration) =>
        Bound(services, AddWorker, configuration);

    /// <summary>Registers through <paramref name="add"/>, with the settings set in code; a wrong one is named by the options type's path.</summary>
    private static IServiceCollection Configured<TOptions>(IServiceCollection services, Func<IServiceCollection, string, OptionsBuilder<TOptions>> add, Action<TOptions>? configure)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = add(services, typeof(TOptions).Name);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        return services;
    }

    /// <summary>Registers through <paramref name="add"/>, with the settings bound from <paramref name="configuration"/>; a wrong one is named by its key.</summary>
    [RequiresUnreferencedCode(Binding)]
    [RequiresDynamicCode(Binding)]
    private static IServiceCollection Bound<TOptions>(IServiceCollection services, Func<IServiceCollection, string, OptionsBuilder<TOptions>> add, IConfiguration configuration)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var path = configuration is IConfigurationSection section && !string.IsNullOrEmpty(section.Path) ? section.Path : typeof(TOptions).Name;
        add(services, path).Bind(configuration);
        return services;
    }

    private static OptionsBuilder<SharedMemoryMasterHostOptions> AddMaster(IServiceCollection services, string path)
    {
        var options = services.AddOptions<SharedMemoryMasterHostOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SharedMemoryMasterHostOptions>>(new MasterHostOptionsValidator(path)));
        services.TryAddSingleton(static sp => new SharedMemoryMaster(WithMeterFactory(sp.GetRequiredService<IOptions<SharedMemoryMasterHostOptions>>().Value.Store, sp), sp.GetService<ILoggerFactory>()));
        services.TryAddSingleton(static sp => sp.GetRequiredService<SharedMemoryMaster>().Store);
        services.TryAddSingleton(static sp => new WorkerSupervisor(
            sp.GetRequiredService<SharedMemoryMaster>(),
            sp.GetRequiredService<IOptions<SharedMemoryMasterHostOptions>>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetService<TimeProvider>()));
        services.AddHostedService(static sp => sp.GetRequiredService<WorkerSupervisor>());
        return options;
    }

    /// <summary>A copy of the master's settings with the host's meter factory, unless they name one; the bound options themselves are left as they are.</summary>
    private static SharedMemoryOptions WithMeterFactory(SharedMemoryOptions options, IServiceProvider services)
    {
        if (options.MeterFactory is not null || services.GetService<IMeterFactory>() is not { } factory)
        {
            return options;
        }

        var copy = options.CheckedCopy();
        copy.MeterFactory = factory;
        return copy;
    }

    private static OptionsBuilder<SharedMemoryWorkerHostOptions> AddWorker(IServiceCollection services, string path)
    {
        var options = services.AddOptions<SharedMemoryWorkerHostOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SharedMemoryWorkerHostOptions>>(new WorkerHostOptionsValidator(path)));
        services.TryAddSingleton<WorkerConnectionService>();
        services.TryAddSingleton(static sp => sp.GetRequiredService<WorkerConnectionService>().ConnectedWorker);
        services.TryAddSingleton<ISharedStore>(static sp => sp.GetRequiredService<SharedMemoryWorker>());
        services.AddHostedService(static sp => sp.GetRequiredService<WorkerConnectionService>());
        return options;
    }

}
