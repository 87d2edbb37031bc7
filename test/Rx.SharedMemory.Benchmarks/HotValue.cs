namespace Rx.SharedMemory.Benchmarks;

/// <summary>The value of the mirror scenario's hot key: a small object, so that a typed read has something to parse.</summary>
/// <param name="Name">A name.</param>
/// <param name="Count">A count.</param>
/// <param name="Score">A score.</param>
internal sealed record HotValue(string Name, int Count, double Score);
