namespace Rx.SharedMemory.TestWorker.Scenarios;

/// <summary>
/// large COUNT SIZE: byte arrays of SIZE bytes set and read back one by one, then read all at once (pipelined, many in
/// one batch), then rewritten all at once; reports how many values came back wrong and what shared memory it mapped.
/// </summary>
internal sealed class LargeScenario : Scenario<LargeScenario.Report>
{
    protected override async Task<Report> RunAsync(ScenarioContext context)
    {
        var (store, arguments, timeout, _) = context;
        int count = arguments.Int(0);
        int size = arguments.Int(1);
        int mismatches = 0;
        for (int i = 0; i < count; i++)
        {
            await store.SetAsync($"large/{i}", Value(i, 0, size), timeout);
            mismatches += (await store.GetAsync<byte[]>($"large/{i}", timeout))!.AsSpan().SequenceEqual(Value(i, 0, size)) ? 0 : 1;
        }

        var all = await Task.WhenAll(Enumerable.Range(0, count).Select(i => store.GetAsync<byte[]>($"large/{i}", timeout).AsTask()));
        mismatches += all.Where((value, i) => !value!.AsSpan().SequenceEqual(Value(i, 0, size))).Count();
        await Task.WhenAll(Enumerable.Range(0, count).Select(i => store.SetAsync($"large/{i}", Value(i, 1, size), timeout).AsTask()));
        all = await Task.WhenAll(Enumerable.Range(0, count).Select(i => store.GetAsync<byte[]>($"large/{i}", timeout).AsTask()));
        mismatches += all.Where((value, i) => !value!.AsSpan().SequenceEqual(Value(i, 1, size))).Count();
        var mapped = Directory.GetFiles("/proc/self/fd")
            .Select(descriptor => new FileInfo(descriptor).LinkTarget)
            .OfType<string>()
            .Where(target => target.Contains("rx-sharedmemory", StringComparison.Ordinal))
            .ToArray();
        return new Report(mismatches, mapped);
    }

    /// <summary>The value of key <paramref name="index"/> in <paramref name="round"/>; the test computes the same.</summary>
    private static byte[] Value(int index, int round, int size)
    {
        var value = new byte[size];
        new Random((index * 7919) + round).NextBytes(value);
        return value;
    }

    /// <param name="Mismatches">How many values read back differed from what was written.</param>
    /// <param name="Mapped">What this process's descriptors to the library's shared memory link to.</param>
    internal sealed record Report(int Mismatches, string[] Mapped);
}
