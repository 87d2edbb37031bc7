using Rx.SharedMemory.Store;

namespace Rx.SharedMemory.Tests;

/// <summary>The embedded engine's lock table on its own: what ends a wait leaves the table as it should.</summary>
public sealed class LockTableTests
{
    [Fact]
    public async Task AWaitEndedByItsOwnersRelease_FailsAsCanceled_AndTheLockIsFree()
    {
        var table = new LockTable(TimeProvider.System);
        const long Owner = 7;
        await table.AcquireAsync("x", Owner, TimeSpan.FromSeconds(1), CancellationToken.None);

        // Locks are not re-entrant: the owner's second request waits behind itself, until its connection goes.
        var waiting = table.AcquireAsync("x", Owner, TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        table.ReleaseOwner(Owner);

        // Canceled, as a wait whose connection went is: not an internal error of the master (event 108).
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, table.Count);
        Assert.True((await table.AcquireAsync("x", Owner + 1, TimeSpan.Zero, CancellationToken.None)) > 0);
    }
}
