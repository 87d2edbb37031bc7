using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// The <c>sleep</c> processes a test's workers leave behind, found by their argument (a duration of the test's own,
/// such as <c>120.417</c>), so that a test kills them however it ends, even before it learns their ids.
/// </summary>
internal static class Sleepers
{
    /// <summary>A duration of about two minutes that names this test's sleepers alone.</summary>
    public static string NewDuration() => string.Create(CultureInfo.InvariantCulture, $"120.{Random.Shared.Next(1_000_000):D6}");

    /// <summary>The ids of the <c>sleep</c> processes running with <paramref name="duration"/>.</summary>
    public static List<int> Find(string duration)
    {
        var found = new List<int>();
        byte[] wanted = Encoding.ASCII.GetBytes($"sleep\0{duration}\0");
        foreach (var directory in Directory.GetDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out int id))
            {
                try
                {
                    if (File.ReadAllBytes(Path.Combine(directory, "cmdline")).AsSpan().EndsWith(wanted))
                    {
                        found.Add(id);
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // The process ended meanwhile.
                }
            }
        }

        return found;
    }

    /// <summary>Kills every <c>sleep</c> process running with <paramref name="duration"/>.</summary>
    public static void Kill(string duration)
    {
        foreach (int id in Find(duration))
        {
            try
            {
                using var process = Process.GetProcessById(id);
                process.Kill();
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
            {
                // It has exited.
            }
        }
    }
}
