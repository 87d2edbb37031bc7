namespace Rx.SharedMemory.Hosting.Master;

/// <summary>One place in a worker group: the worker that fills it now, or why none does.</summary>
internal sealed class WorkerSlot(WorkerGroupOptions group, int index, IWorker worker)
{
    public WorkerGroupOptions Group { get; } = group;

    public int Index { get; } = index;

    // Written by the slot's supervising loop alone, read by health checks on any thread.
    private volatile State current = new(WorkerSlotState.Running, worker, ExitCode: null);

    public WorkerSlotState SlotState => this.current.Kind;

    public IWorker Worker => this.current.Worker;

    /// <summary>Gets the exit code of the last worker that exited from this place, if one has.</summary>
    public int? LastExitCode => this.current.ExitCode;

    public string Name => $"{this.Group.Name}[{this.Index}]";

    public void Set(WorkerSlotState state, IWorker worker, int? exitCode) => this.current = new(state, worker, exitCode);

    private sealed record State(WorkerSlotState Kind, IWorker Worker, int? ExitCode);
}
