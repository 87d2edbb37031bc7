using System.Text.Json.Serialization;

namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// The source-generated contract of <see cref="Reading"/>, shared by the test worker and the tests; snake_case, so
/// that a value written with it is told at a glance from one written with the defaults.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(Reading))]
[JsonSerializable(typeof(System.Text.Json.JsonElement))]
internal sealed partial class ReadingJsonContext : JsonSerializerContext;
