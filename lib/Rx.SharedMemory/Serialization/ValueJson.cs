using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Rx.SharedMemory.Rpc;

namespace Rx.SharedMemory.Serialization;

/// <summary>
/// How a store turns values into JSON and back: its store-wide options, made read-only once the store has them, and
/// the contract of a type under them for the typed methods that take none.
/// </summary>
internal static class ValueJson
{
    /// <summary>
    /// Makes a store's options read-only, so that a change after the store was made fails at once instead of changing
    /// half of what is cached. Options without a resolver get System.Text.Json's reflection-based one, as
    /// <see cref="JsonSerializer"/> gives them, unless reflection is disabled (trimmed and Native AOT applications).
    /// </summary>
    /// <param name="options">The options a user set; <see langword="null"/> for System.Text.Json's defaults.</param>
    /// <param name="setting">The setting's name, for the message of a refusal.</param>
    /// <returns><paramref name="options"/>, read-only.</returns>
    /// <exception cref="ArgumentException">The options have no resolver and reflection is disabled.</exception>
    public static JsonSerializerOptions? Freeze(JsonSerializerOptions? options, string setting)
    {
        if (options is null || options.IsReadOnly)
        {
            return options;
        }

        if (Unusable(options, setting) is { } unusable)
        {
            throw unusable;
        }

        if (options.TypeInfoResolver is not null)
        {
            options.MakeReadOnly();
        }
        else
        {
            FreezeWithReflection(options);
        }

        return options;
    }

    /// <summary>
    /// Why <paramref name="options"/> cannot be a store's (no contracts to find: no resolver, and reflection disabled
    /// in this application), or null when it can: for the options' checks, which name every wrong setting.
    /// </summary>
    public static ArgumentException? Unusable(JsonSerializerOptions? options, string setting) =>
        options is { IsReadOnly: false, TypeInfoResolver: null } && !JsonSerializer.IsReflectionEnabledByDefault
            ? new ArgumentException(
                $"{setting} has no TypeInfoResolver, and reflection-based serialization is disabled in this application: set its TypeInfoResolver to a source-generated JsonSerializerContext.",
                setting)
            : null;

    /// <summary>The contract of <typeparamref name="T"/> under a store's options, found at run time.</summary>
    /// <param name="options">The store's options; <see langword="null"/> for System.Text.Json's defaults.</param>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static JsonTypeInfo<T> TypeInfo<T>(JsonSerializerOptions? options)
    {
        options ??= JsonSerializerOptions.Default;
        options.MakeReadOnly(populateMissingResolver: true);
        return (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));
    }

    /// <summary>
    /// A typed read without a contract: <paramref name="store"/>'s <see cref="JsonTypeInfo{T}"/> overload with the
    /// contract found under <paramref name="options"/>, or, for a type without one, a task failed naming the key.
    /// </summary>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static ValueTask<StoreEntry<T>?> GetEntryAsync<T>(ISharedStore store, JsonSerializerOptions? options, string key, CancellationToken cancellationToken) =>
        TryTypeInfo<T>(options, key, writing: false, out var typeInfo, out var error)
            ? store.GetEntryAsync(key, typeInfo, cancellationToken)
            : ValueTask.FromException<StoreEntry<T>?>(error);

    /// <summary>A typed write without a contract, as <see cref="GetEntryAsync{T}"/> reads.</summary>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static ValueTask<long> SetAsync<T>(ISharedStore store, JsonSerializerOptions? options, string key, T value, SetOptions? setOptions, CancellationToken cancellationToken) =>
        TryTypeInfo<T>(options, key, writing: true, out var typeInfo, out var error)
            ? store.SetAsync(key, value, typeInfo, setOptions, cancellationToken)
            : ValueTask.FromException<long>(error);

    /// <summary>A typed compare-and-set without a contract, as <see cref="GetEntryAsync{T}"/> reads.</summary>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static ValueTask<CompareAndSetResult> CompareAndSetAsync<T>(ISharedStore store, JsonSerializerOptions? options, string key, long expectedVersion, T value, SetOptions? setOptions, CancellationToken cancellationToken) =>
        TryTypeInfo<T>(options, key, writing: true, out var typeInfo, out var error)
            ? store.CompareAndSetAsync(key, expectedVersion, value, typeInfo, setOptions, cancellationToken)
            : ValueTask.FromException<CompareAndSetResult>(error);

    /// <summary>
    /// The contract of <typeparamref name="T"/> under a store's options, or the reason there is none (a type
    /// System.Text.Json cannot handle) as an exception that names the key, for a typed call to fail through its task.
    /// </summary>
    /// <param name="options">The store's options; <see langword="null"/> for System.Text.Json's defaults.</param>
    /// <param name="key">The key the call is for.</param>
    /// <param name="writing">Whether the call writes a value (else it reads one).</param>
    /// <param name="typeInfo">The contract, when there is one.</param>
    /// <param name="error">Why there is none.</param>
    [RequiresUnreferencedCode(ISharedStore.ReflectionMessage)]
    [RequiresDynamicCode(ISharedStore.ReflectionMessage)]
    public static bool TryTypeInfo<T>(JsonSerializerOptions? options, string? key, bool writing, [NotNullWhen(true)] out JsonTypeInfo<T>? typeInfo, [NotNullWhen(false)] out Exception? error)
    {
        try
        {
            typeInfo = TypeInfo<T>(options);
            error = null;
            return true;
        }
        catch (Exception ex) when (ValueErrors.IsSerializerError(ex))
        {
            typeInfo = null;
            error = writing ? ValueErrors.Unwritable(key ?? string.Empty, typeof(T), ex) : ValueErrors.Unreadable(key ?? string.Empty, typeof(T), ex);
            return false;
        }
    }

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Only when JsonSerializer.IsReflectionEnabledByDefault, which trimmed applications turn off.")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Only when JsonSerializer.IsReflectionEnabledByDefault, which Native AOT applications turn off.")]
    private static void FreezeWithReflection(JsonSerializerOptions options) => options.MakeReadOnly(populateMissingResolver: true);
}
