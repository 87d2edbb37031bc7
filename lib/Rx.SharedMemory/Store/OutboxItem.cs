namespace Rx.SharedMemory.Store;

/// <summary>A change waiting to be delivered to one subscription.</summary>
/// <param name="SubscriptionId">The subscription it is for.</param>
/// <param name="Change">The change.</param>
/// <param name="Skipped">How many earlier changes to the same key were conflated into this one.</param>
internal readonly record struct OutboxItem(long SubscriptionId, ChangeRecord Change, long Skipped);
