namespace Rx.SharedMemory.TestWorker;

/// <summary>
/// The environment this process started with (/proc/self/environ): the library takes the pipes' variables out of the
/// process's environment when it is first used, so the raw protocol speakers, which open the pipes themselves, and the
/// scenarios that check what a child inherits, read them as the master passed them.
/// </summary>
internal static class StartingEnvironment
{
    private static readonly Lazy<Dictionary<string, string>> Variables = new(() => File.ReadAllText("/proc/self/environ")
        .Split('\0')
        .Select(variable => variable.Split('=', 2))
        .Where(pair => pair.Length == 2)
        .DistinctBy(pair => pair[0])
        .ToDictionary(pair => pair[0], pair => pair[1]));

    /// <summary>Gets a variable as the process started with it; null when it had none.</summary>
    public static string? Get(string name) => Variables.Value.GetValueOrDefault(name);
}
