namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>A value the serialization tests write and read, with a property name that naming policies change.</summary>
/// <param name="SensorName">The sensor's name.</param>
/// <param name="Value">What it read.</param>
internal sealed record Reading(string SensorName, double Value);
