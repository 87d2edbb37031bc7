using Microsoft.Extensions.Options;

namespace Rx.SharedMemory.Hosting.Master;

/// <summary>Checks a hosted master's settings when the host starts, naming each wrong one by its configuration path.</summary>
/// <param name="path">The configuration section the settings were bound from, or the options type's name when they were set in code.</param>
internal sealed class MasterHostOptionsValidator(string path) : IValidateOptions<SharedMemoryMasterHostOptions>
{
    public ValidateOptionsResult Validate(string? name, SharedMemoryMasterHostOptions options)
    {
        var failures = new List<string>();
        if (options.Store is null)
        {
            failures.Add($"{path}:Store must be set.");
        }
        else
        {
            // Every wrong one, not only the first that Validate throws for. The core names a setting
            // SharedMemoryOptions.X; here it is the configuration key.
            failures.AddRange(options.Store.Failures().Select(failure => SettingMessages.Rename(failure, nameof(SharedMemoryOptions), $"{path}:Store:")));
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < options.Workers.Count; i++)
        {
            var group = options.Workers[i];
            var at = $"{path}:Workers:{i}";
            if (string.IsNullOrWhiteSpace(group.Name))
            {
                failures.Add($"{at}:Name must be set.");
            }
            else if (!names.Add(group.Name))
            {
                failures.Add($"{at}:Name '{group.Name}' is used by another group.");
            }

            if (group.Count < 0)
            {
                failures.Add($"{at}:Count is {group.Count}; it must be 0 or more.");
            }

            ValidateRestart(group.Restart, $"{at}:Restart", failures);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidateRestart(WorkerRestartOptions? restart, string at, List<string> failures)
    {
        if (restart is null)
        {
            failures.Add($"{at} must be set.");
            return;
        }

        if (!Enum.IsDefined(restart.Mode))
        {
            failures.Add($"{at}:Mode is {restart.Mode}; it must be Always, OnFailure or Never.");
        }

        // A delay of zero would restart a crashing worker in a tight loop; past a day it is no supervision at all (and
        // past 49 days no timer can wait for it).
        if (restart.InitialDelay <= TimeSpan.Zero || restart.InitialDelay > TimeSpan.FromDays(1))
        {
            failures.Add($"{at}:InitialDelay is {restart.InitialDelay}; it must be more than zero and at most a day.");
        }

        if (restart.MaxDelay < restart.InitialDelay || restart.MaxDelay > TimeSpan.FromDays(1))
        {
            failures.Add($"{at}:MaxDelay is {restart.MaxDelay}; it must be at least InitialDelay ({restart.InitialDelay}) and at most a day.");
        }

        if (!(restart.BackoffMultiplier >= 1) || double.IsInfinity(restart.BackoffMultiplier))
        {
            failures.Add($"{at}:BackoffMultiplier is {restart.BackoffMultiplier}; it must be a finite number of at least 1.");
        }

        if (restart.ResetAfter <= TimeSpan.Zero)
        {
            failures.Add($"{at}:ResetAfter is {restart.ResetAfter}; it must be positive.");
        }
    }
}
