using System.Diagnostics;
using System.Text.Json;

namespace Rx.SharedMemory.Protocol;

/// <summary>
/// The W3C <c>traceparent</c> text (<c>00-{trace id}-{span id}-{flags}</c>) that carries a trace context on the wire:
/// on a request of its own, on a call of a <c>batch</c> (its <c>traceparents</c>) and on a change of a <c>changes</c>
/// notification. It travels as text from end to end: formatted once, where an activity's <see cref="Activity.Id"/>
/// already holds it, and parsed only where an activity is started from it.
/// </summary>
internal static class TraceParent
{
    /// <summary>The <c>traceparent</c> of the activity current on this thread, to carry on; null for none (or one not in the W3C format).</summary>
    public static string? Current() => Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Id : null;

    /// <summary>The <c>traceparent</c> of <paramref name="activity"/>; null when it has none in the W3C format.</summary>
    public static string? Of(Activity activity) => activity.IdFormat == ActivityIdFormat.W3C ? activity.Id : null;

    /// <summary>
    /// The context a <c>traceparent</c> from another process carries; default for none, or for one that does not parse
    /// (it is only a hint). A <c>tracestate</c> is not carried.
    /// </summary>
    public static ActivityContext Parse(string? traceParent) =>
        traceParent is not null && ActivityContext.TryParse(traceParent, traceState: null, isRemote: true, out var context) ? context : default;

    /// <summary>
    /// The text of a trace member a worker sent (a <c>traceparent</c>, or a <c>tracestate</c>, which the master
    /// ignores); null for a value that is not a string, or for a string that is not text (an escaped lone surrogate):
    /// either is no context, as an invalid one is, never an error.
    /// </summary>
    public static string? TextOf(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        try
        {
            return element.GetString();
        }
        catch (InvalidOperationException)
        {
            return null; // a lone surrogate: not a traceparent
        }
    }
}
