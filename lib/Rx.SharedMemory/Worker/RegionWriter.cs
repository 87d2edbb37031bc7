using System.Buffers;
using Rx.SharedMemory.Protocol;
using Rx.SharedMemory.Transport;

namespace Rx.SharedMemory.Worker;

/// <summary>
/// Lays one batch's large values out in the to-master area of the shared region, one after another. The area is the
/// batch's alone: a worker has one batch in flight, and the master has copied every value out before it answers.
/// </summary>
internal sealed class RegionWriter(SharedRegion region) : BatchRequest.IValuePlacer
{
    private int used;

    /// <summary>Copies a large value into the area and returns its offset; null when it is small or there is no room left (it then travels inline).</summary>
    public int? TryPlace(ReadOnlySequence<byte> value)
    {
        if (value.Length < ProtocolLimits.MinRegionValueBytes || value.Length > region.AreaBytes - this.used)
        {
            return null;
        }

        int offset = this.used;
        foreach (var segment in value)
        {
            region.TryWrite(SharedRegion.Area.ToMaster, this.used, segment.Span);
            this.used += segment.Length;
        }

        return offset;
    }
}
