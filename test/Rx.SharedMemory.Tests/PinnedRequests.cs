using Rx.SharedMemory.Protocol;

namespace Rx.SharedMemory.Tests;

/// <summary>
/// The single requests as the .NET worker writes them (parameters by position) and the master's results, as JSON on
/// the wire, in the order of one conversation with a fresh master: <see cref="ProtocolCodecTests"/> checks that the
/// worker writes exactly these and reads these results, <see cref="OperationTableTests"/> that the master's table
/// binds exactly these and answers exactly these results. docs/protocol.md describes the same.
/// </summary>
internal static class PinnedRequests
{
    /// <summary>Gets <c>hello</c> as a worker without a shared region writes it: <c>[protocolVersion, processId]</c>.</summary>
    public static string Hello => $"[{RpcMethods.ProtocolVersion},{Environment.ProcessId}]";

    public static Exchange Set { get; } = new(RpcMethods.Set, """["k",[1,2]]""", "1");

    public static Exchange Get { get; } = new(RpcMethods.Get, """["k"]""", """{"value":[1,2],"version":1}""");

    /// <summary>Gets a <c>set</c> with a time to live of an hour, ephemeral: <c>[key, value, ttlMs, ephemeral]</c>.</summary>
    public static Exchange SetWithOptions { get; } = new(RpcMethods.Set, """["e",1,3600000,true]""", "2");

    /// <summary>Gets a <c>compareAndSet</c> without options: <c>ttlMs</c> null, <c>ephemeral</c> false, both written.</summary>
    public static Exchange CompareAndSet { get; } = new(RpcMethods.CompareAndSet, """["k",1,[3],null,false]""", """{"succeeded":true,"version":3}""");

    /// <summary>Gets an <c>increment</c>: the worker always writes the delta.</summary>
    public static Exchange Increment { get; } = new(RpcMethods.Increment, """["n",1]""", """{"value":1,"version":4}""");

    public static Exchange Delete { get; } = new(RpcMethods.Delete, """["k"]""", "5");

    /// <summary>Gets a <c>delete</c> of an absent key: 0, nothing committed.</summary>
    public static Exchange DeleteAbsent { get; } = new(RpcMethods.Delete, """["k"]""", "0");

    public static Exchange GetAbsent { get; } = new(RpcMethods.Get, """["k"]""", "null");

    /// <summary>Gets a <c>lock</c> with a timeout of 2 s: <c>[name, timeoutMs]</c>; the result is the token.</summary>
    public static Exchange Lock { get; } = new(RpcMethods.Lock, """["l",2000]""", "1");

    /// <summary>Gets the <c>unlock</c> of that lock: <c>[name, token]</c>.</summary>
    public static Exchange Unlock { get; } = new(RpcMethods.Unlock, """["l",1]""", "true");

    /// <summary>Gets a <c>subscribe</c> to a key from its current state: <c>[subscription, key, prefix, fromVersion]</c>, all written; the result is the store's version.</summary>
    public static Exchange Subscribe { get; } = new(RpcMethods.Subscribe, """[1,"k",false,null]""", "5");

    /// <summary>Gets a <c>subscribe</c> to a prefix from a version.</summary>
    public static Exchange SubscribePrefix { get; } = new(RpcMethods.Subscribe, """[2,"p/",true,7]""", "5");

    /// <summary>Gets the end of the first subscription: a notification, <c>[subscription]</c>.</summary>
    public static Exchange Unsubscribe { get; } = new(RpcMethods.Unsubscribe, "[1]", Result: null);

    /// <summary>Gets the whole conversation after <c>hello</c>, in order.</summary>
    public static Exchange[] Conversation =>
        [Set, Get, SetWithOptions, CompareAndSet, Increment, Delete, DeleteAbsent, GetAbsent, Lock, Unlock, Subscribe, SubscribePrefix, Unsubscribe];

    /// <summary>One message of the worker and the master's answer to it.</summary>
    /// <param name="Method">The method.</param>
    /// <param name="Params">The parameters exactly as written.</param>
    /// <param name="Result">The answer's <c>result</c> exactly as written; null for a notification.</param>
    public sealed record Exchange(string Method, string Params, string? Result)
    {
        public bool IsRequest => this.Result is not null;
    }
}
