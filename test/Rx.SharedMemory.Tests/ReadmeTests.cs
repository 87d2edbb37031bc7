namespace Rx.SharedMemory.Tests;

public sealed class ReadmeTests
{
    [Fact]
    public void QuickStart_InReadme_IsTheCompiledProgram()
    {
        var root = RepositoryRoot();
        var program = File.ReadAllText(Path.Combine(root, "demo", "Rx.SharedMemory.QuickStart", "Program.cs")).ReplaceLineEndings("\n");
        const string Start = "// <quickstart>\n";
        int from = program.IndexOf(Start, StringComparison.Ordinal) + Start.Length;
        int to = program.IndexOf("// </quickstart>", StringComparison.Ordinal);
        var snippet = program[from..to];

        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");

        Assert.Contains("```csharp\n" + snippet + "```", readme, StringComparison.Ordinal);
    }

    /// <summary>The folder that holds Rx.SharedMemory.sln, found from the tests' output folder.</summary>
    internal static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Rx.SharedMemory.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (with Rx.SharedMemory.sln) is not above " + AppContext.BaseDirectory);
    }
}
