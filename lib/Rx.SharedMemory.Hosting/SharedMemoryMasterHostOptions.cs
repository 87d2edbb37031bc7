namespace Rx.SharedMemory.Hosting;

/// <summary>
/// The settings of a master run by the host (<c>AddSharedMemoryMaster</c>): its store and the workers it keeps
/// running. Bound from configuration, for example the section <c>SharedMemory</c>:
/// <code>
/// "SharedMemory": {
///   "Store": { "MaxEntries": 100000 },
///   "Workers": [ { "Name": "jobs", "Count": 2, "Arguments": [ "jobs" ] } ]
/// }
/// </code>
/// and checked when the host starts: an invalid setting stops the start with a message that names it.
/// </summary>
public sealed class SharedMemoryMasterHostOptions
{
    /// <summary>Gets or sets the store's settings.</summary>
    public SharedMemoryOptions Store { get; set; } = new();

    /// <summary>Gets the groups of workers the master starts with the host and keeps running until it stops.</summary>
    public IList<WorkerGroupOptions> Workers { get; } = [];
}
