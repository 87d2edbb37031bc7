using Microsoft.Extensions.Options;

namespace Rx.SharedMemory.Hosting.Worker;

/// <summary>Checks a hosted worker's settings when the host starts, naming each wrong one by its configuration path.</summary>
/// <param name="path">The configuration section the settings were bound from, or the options type's name when they were set in code.</param>
internal sealed class WorkerHostOptionsValidator(string path) : IValidateOptions<SharedMemoryWorkerHostOptions>
{
    public ValidateOptionsResult Validate(string? name, SharedMemoryWorkerHostOptions options)
    {
        if (options.Connection is null)
        {
            return ValidateOptionsResult.Fail($"{path}:Connection must be set.");
        }

        // Every wrong one, not only the first that Validate throws for.
        var failures = options.Connection.Failures().Select(failure => SettingMessages.Rename(failure, nameof(SharedMemoryWorkerOptions), $"{path}:Connection:")).ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
