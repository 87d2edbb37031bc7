using Rx.SharedMemory.Protocol;
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

    /// <summary>
    /// MaxHeldLocksPerConnection counts the locks a connection holds: an unlock that names another lock releases
    /// nothing and makes no room (it did, and repeated, let one worker hold without bound); its own unlock does.
    /// </summary>
    [Fact]
    public async Task AnUnlockUnderAnotherName_MakesNoRoomUnderTheHeldLockBound()
    {
        await using var connection = await InProcessConnection.StartAsync(CancellationToken.None, options: new SharedMemoryOptions { MaxHeldLocksPerConnection = 2 });
        var worker = connection.Worker;
        long first = await worker.InvokeAsync<long>(RpcMethods.Lock, "a", 1000.0);
        await worker.InvokeAsync<long>(RpcMethods.Lock, "b", 1000.0);
        // (This plain JsonRpc answers the master's SharedMemoryLimitExceededException with its message, not -32010.)
        Assert.Contains("MaxHeldLocksPerConnection", (await Assert.ThrowsAsync<StreamJsonRpc.RemoteInvocationException>(() => worker.InvokeAsync<long>(RpcMethods.Lock, "c", 1000.0))).Message, StringComparison.Ordinal);

        Assert.False(await worker.InvokeAsync<bool>(RpcMethods.Unlock, "not-a", first));
        var refused = await Assert.ThrowsAsync<StreamJsonRpc.RemoteInvocationException>(() => worker.InvokeAsync<long>(RpcMethods.Lock, "c", 1000.0));
        Assert.Contains("MaxHeldLocksPerConnection", refused.Message, StringComparison.Ordinal);

        Assert.True(await worker.InvokeAsync<bool>(RpcMethods.Unlock, "a", first));
        Assert.True(await worker.InvokeAsync<long>(RpcMethods.Lock, "c", 1000.0) > 0);
    }
}
