namespace Rx.SharedMemory.Hosting.Master;

/// <summary>Where a worker group's place stands.</summary>
internal enum WorkerSlotState
{
    /// <summary>Its worker is online.</summary>
    Running,

    /// <summary>Its worker exited; a new one starts after the back-off delay.</summary>
    Restarting,

    /// <summary>Its worker exited and the restart mode leaves it so.</summary>
    Stopped,
}
