namespace Rx.SharedMemory.Protocol;

/// <summary>
/// Where each argument of a call of a <c>batch</c> sits in its <c>[method, arguments…]</c> array (the method is at 0),
/// for the worker that writes the call and the master that reads it (docs/protocol.md, batch).
/// </summary>
internal static class BatchPositions
{
    /// <summary>The method's name.</summary>
    public const int Method = 0;

    /// <summary><c>["get", key]</c>.</summary>
    public static class Get
    {
        public const int Key = 1;

        /// <summary>The most elements a call has, its method included: more is refused, as a request's surplus arguments are.</summary>
        public const int Length = Key + 1;
    }

    /// <summary><c>["set", key, value, ttlMs?, ephemeral?, regionOffset?, regionLength?]</c>.</summary>
    public static class Set
    {
        public const int Key = 1;
        public const int Value = 2;
        public const int TtlMs = 3;
        public const int Ephemeral = 4;

        /// <summary>Where the value lies in the shared region, when it travels there (the value is then <c>null</c>); its length follows.</summary>
        public const int RegionOffset = 5;
        public const int RegionLength = 6;

        /// <summary>The most elements a call has, its method included: more is refused, as a request's surplus arguments are.</summary>
        public const int Length = RegionLength + 1;
    }

    /// <summary><c>["compareAndSet", key, expectedVersion, value, ttlMs?, ephemeral?, regionOffset?, regionLength?]</c>.</summary>
    public static class CompareAndSet
    {
        public const int Key = 1;
        public const int ExpectedVersion = 2;
        public const int Value = 3;
        public const int TtlMs = 4;
        public const int Ephemeral = 5;

        /// <summary>As <see cref="Set.RegionOffset"/>; its length follows.</summary>
        public const int RegionOffset = 6;
        public const int RegionLength = 7;

        /// <summary>The most elements a call has, its method included: more is refused, as a request's surplus arguments are.</summary>
        public const int Length = RegionLength + 1;
    }

    /// <summary><c>["increment", key, delta?]</c>.</summary>
    public static class Increment
    {
        public const int Key = 1;
        public const int Delta = 2;

        /// <summary>The most elements a call has, its method included: more is refused, as a request's surplus arguments are.</summary>
        public const int Length = Delta + 1;
    }

    /// <summary><c>["delete", key]</c>.</summary>
    public static class Delete
    {
        public const int Key = 1;

        /// <summary>The most elements a call has, its method included: more is refused, as a request's surplus arguments are.</summary>
        public const int Length = Key + 1;
    }

    /// <summary><c>["unlock", name, token]</c>.</summary>
    public static class Unlock
    {
        public const int Name = 1;
        public const int Token = 2;

        /// <summary>The most elements a call has, its method included: more is refused, as a request's surplus arguments are.</summary>
        public const int Length = Token + 1;
    }
}
