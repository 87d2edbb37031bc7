using System.Text.Json;

namespace Rx.SharedMemory.Serialization;

/// <summary>A store that tells what it writes and reads values with, so that a mirror of it reads them alike.</summary>
internal interface IValueOptionsSource
{
    /// <summary>Gets the store-wide options of values, read-only; <see langword="null"/> for System.Text.Json's defaults.</summary>
    JsonSerializerOptions? ValueOptions { get; }
}
