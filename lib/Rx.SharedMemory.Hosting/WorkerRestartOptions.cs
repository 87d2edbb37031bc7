namespace Rx.SharedMemory.Hosting;

/// <summary>
/// How a hosted master restarts a worker that exits while the host runs, as a process supervisor does: after
/// <see cref="InitialDelay"/>, then after a delay <see cref="BackoffMultiplier"/> times longer for each exit in a row
/// that came within <see cref="ResetAfter"/> of its start, up to <see cref="MaxDelay"/>.
/// </summary>
public sealed class WorkerRestartOptions
{
    /// <summary>Gets or sets which exits lead to a restart. Default <see cref="WorkerRestartMode.Always"/>.</summary>
    public WorkerRestartMode Mode { get; set; } = WorkerRestartMode.Always;

    /// <summary>Gets or sets the delay before the first restart. Default 1 second.</summary>
    public TimeSpan InitialDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the longest delay between restarts. Default 1 minute.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Gets or sets by how much the delay grows with each exit in a row. Default 2; at least 1.</summary>
    public double BackoffMultiplier { get; set; } = 2;

    /// <summary>Gets or sets how long a worker must have run for its exit to start the delays over from <see cref="InitialDelay"/>. Default 1 minute.</summary>
    public TimeSpan ResetAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The delay before the restart that follows <paramref name="exitsInARow"/> short-lived runs (1 for the first).</summary>
    internal TimeSpan DelayAfter(int exitsInARow)
    {
        double ticks = this.InitialDelay.Ticks * Math.Pow(this.BackoffMultiplier, Math.Max(0, exitsInARow - 1));
        return ticks >= this.MaxDelay.Ticks ? this.MaxDelay : TimeSpan.FromTicks((long)ticks);
    }
}
