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

    /// <summary>Its supervision failed (a fault of the supervisor, logged): the worker is no longer watched or restarted.</summary>
    Failed,
}
