using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;

namespace Rx.SharedMemory.Tests;

/// <summary>Timeouts for every await, so that no test can hang.</summary>
public abstract class TestBase
{
    /// <summary>How long anything that should happen may take, generous for a loaded two-core machine.</summary>
    protected static readonly TimeSpan UnexpectedTimeout = Debugger.IsAttached ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(60);

    private readonly CancellationTokenSource timeout = new(UnexpectedTimeout);

    /// <summary>Gets a token cancelled when the test has run too long.</summary>
    protected CancellationToken TimeoutToken => this.timeout.Token;

    /// <summary>Awaits the first element of <paramref name="source"/> that matches, within the test's timeout.</summary>
    protected Task<T> FirstAsync<T>(IObservable<T> source, Func<T, bool> predicate) =>
        source.FirstAsync(x => predicate(x)).ToTask(this.TimeoutToken);
}
