using System.Diagnostics;

namespace HsmVault.Fuzz.Tests;

/// <summary>build.ps1 fuzz's argument checks, through the PowerShell tool: a bad option stops at once, with one line and exit 2, before any build.</summary>
[TestClass]
public sealed class FuzzScriptTests
{
    [TestMethod]
    [DataRow("fuzz: unknown option '--bogus'", "fuzz", "--bogus")]
    [DataRow("fuzz: unknown target 'nope'; targets: frame, host-request,", "fuzz", "--target", "nope")]
    [DataRow("fuzz: --minutes needs a number of minutes above 0", "fuzz", "--target", "merkle", "--minutes", "0")]
    [DataRow("fuzz: --minutes needs a number of minutes above 0", "fuzz", "--minutes", "soon", "--target", "merkle")]
    [DataRow("fuzz: use --list, or --target T [--minutes N]", "fuzz")]
    public async Task A_bad_fuzz_option_stops_with_one_line_and_exit_2(string expected, params string[] arguments)
    {
        (int code, string output) = await RunAsync(arguments);

        Assert.AreEqual(2, code, output);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.HasCount(1, lines, output);
        StringAssert.Contains(lines[0], expected);
    }

    private static async Task<(int Code, string Output)> RunAsync(string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = RepositoryPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in new[] { "pwsh", "-NoProfile", "-File", Path.Combine(RepositoryPaths.Root, "build.ps1") }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["NO_COLOR"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, (await output + await error).Replace("\u001b[91m", "", StringComparison.Ordinal).Replace("\u001b[0m", "", StringComparison.Ordinal));
    }
}
