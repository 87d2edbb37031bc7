namespace Rx.SharedMemory.Hosting;

/// <summary>Turns the core's message about a wrong setting into one that names the setting by its configuration key.</summary>
internal static class SettingMessages
{
    /// <summary>
    /// The message of <paramref name="error"/> (which names a setting <c>Type.Setting</c>) without the parameter
    /// suffix .NET appends, with <c>Type.</c> replaced by <paramref name="path"/>: <c>SharedMemory:Store:MaxEntries must be positive; it is 0.</c>
    /// </summary>
    public static string Rename(ArgumentException error, string type, string path)
    {
        var message = error.Message;
        int suffix = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return (suffix < 0 ? message : message[..suffix]).Replace(type + ".", path, StringComparison.Ordinal);
    }
}
