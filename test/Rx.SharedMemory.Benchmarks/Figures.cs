using System.Globalization;

namespace Rx.SharedMemory.Benchmarks;

/// <summary>The figures of a run, each printed as it is measured: <c>name value unit</c>.</summary>
internal sealed class Figures
{
    private readonly Dictionary<string, double> values = [];

    public void Add(string name, double value, string unit)
    {
        this.values[name] = value;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {Math.Round(value, value < 10 ? 3 : 1)} {unit}"));
    }

    public bool TryGet(string name, out double value) => this.values.TryGetValue(name, out value);

    public static double Percentile(List<double> samples, double percentile)
    {
        samples.Sort();
        return samples[Math.Min(samples.Count - 1, (int)(samples.Count * percentile / 100))];
    }
}
