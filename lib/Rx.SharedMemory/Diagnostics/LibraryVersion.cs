using System.Reflection;

namespace Rx.SharedMemory.Diagnostics;

/// <summary>The library's version, as its activity source and its meters give it (OpenTelemetry's instrumentation scope version).</summary>
internal static class LibraryVersion
{
    /// <summary>Gets the informational version without its source revision (<c>1.2.3</c> of <c>1.2.3+abc123</c>).</summary>
    public static string? Value { get; } =
        typeof(LibraryVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(LibraryVersion).Assembly.GetName().Version?.ToString();
}
