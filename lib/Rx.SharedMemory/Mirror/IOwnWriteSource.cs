namespace Rx.SharedMemory.Mirror;

/// <summary>
/// A store that tells the mirrors made from it about its own acknowledged writes, so that a read through a mirror in
/// the process that wrote reflects the write as soon as the write's call returns (read-your-writes).
/// </summary>
internal interface IOwnWriteSource
{
    /// <summary>Gets where the store reports its writes.</summary>
    OwnWrites OwnWrites { get; }
}
