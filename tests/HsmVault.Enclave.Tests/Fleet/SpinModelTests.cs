using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;

namespace HsmVault.Enclave.Tests.Fleet;

/// <summary>
/// Runs spin on model/fleet.pml (the commit and leader-change protocol of docs/REPLICATION.md):
/// the model as specified verifies with no error, and each seeded bug yields an assertion
/// violation, so the model's assertions are not vacuous. spin is a prerequisite, never a skip:
/// `dotnet pwsh build.ps1 test` installs it when run as root.
/// </summary>
[TestClass]
public sealed partial class SpinModelTests
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(50);

    [TestMethod]
    public void The_model_as_specified_verifies_with_no_errors()
    {
        SpinRun run = Verify();

        StringAssert.Contains(run.Output, "errors: 0", run.Output);
        Assert.IsFalse(run.Output.Contains("max search depth too small", StringComparison.Ordinal), run.Output);
        Assert.IsFalse(run.HasTrail, run.Output);
        // The bounds give about 4 million states; far fewer means the model lost its nondeterminism.
        Assert.IsGreaterThan(1_000_000d, run.StatesStored, run.Output);
    }

    [TestMethod]
    [DataRow("BUG_QUORUM")]
    [DataRow("BUG_CAPTURE")]
    public void A_seeded_bug_yields_an_assertion_violation(string bug)
    {
        SpinRun run = Verify(bug);

        StringAssert.Contains(run.Output, "assertion violated", run.Output);
        StringAssert.Contains(run.Output, "errors: 1", run.Output);
        Assert.IsTrue(run.HasTrail, "a violation leaves a trail file\n" + run.Output);
    }

    [TestMethod]
    public void The_model_reaches_a_commit_by_the_last_leader_over_an_earlier_leaders_entry()
    {
        // COVER=1 asserts that this never happens; spin must refute it, so the "errors: 0" above
        // covers commits across leader changes rather than a model that never gets there.
        SpinRun run = Verify("COVER=1");

        StringAssert.Contains(run.Output, "assertion violated", run.Output);
    }

    private static SpinRun Verify(params string[] defines)
    {
        string spin = FindTool("spin") ?? throw new AssertFailedException(
            "spin is not installed, so the fleet model cannot be checked. Install it with 'sudo apt-get install spin' " +
            "(Debian/Ubuntu), or run 'dotnet pwsh build.ps1 test' as root, which installs it.");
        string gcc = FindTool("gcc") ?? throw new AssertFailedException(
            "gcc is not installed; spin needs it to compile its verifier. Install it with 'sudo apt-get install gcc'.");
        string model = Path.Combine(FindRepositoryRoot(), "model", "fleet.pml");
        Assert.IsTrue(File.Exists(model), $"{model} is missing");

        DirectoryInfo folder = Directory.CreateTempSubdirectory("hsmvault-spin-");
        try
        {
            File.Copy(model, Path.Combine(folder.FullName, "fleet.pml"));
            List<string> spinArguments = ["-a", .. defines.Select(d => "-D" + d), "fleet.pml"];
            Run(spin, spinArguments, folder.FullName);
            Run(gcc, ["-O2", "-DSAFETY", "-o", "pan", "pan.c"], folder.FullName);
            string output = Run(Path.Combine(folder.FullName, "pan"), ["-m10000"], folder.FullName);

            Match states = StatesStored().Match(output);
            Assert.IsTrue(states.Success, output);
            return new SpinRun(
                output,
                File.Exists(Path.Combine(folder.FullName, "fleet.pml.trail")),
                double.Parse(states.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static string Run(string file, IReadOnlyList<string> arguments, string folder)
    {
        ProcessStartInfo start = new(file)
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        StringBuilder output = new();
        using Process process = new() { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(StepTimeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"'{Path.GetFileName(file)} {string.Join(' ', arguments)}' did not finish within {StepTimeout.TotalSeconds:F0} s:\n{Text(output)}");
        }

        process.WaitForExit();
        string text = Text(output);
        Assert.AreEqual(0, process.ExitCode, $"'{Path.GetFileName(file)} {string.Join(' ', arguments)}' failed:\n{text}");
        return text;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string Text(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    private static string? FindTool(string name)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            if (directory.Length == 0)
            {
                continue;
            }

            string candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static string FindRepositoryRoot([CallerFilePath] string source = "")
    {
        // The test's own folder first; HSMVAULT_ARTIFACTS may put the build outside the checkout, so
        // then this source file's folder (as compiled) and the working folder.
        string[] starts = [AppContext.BaseDirectory, Path.GetDirectoryName(source) ?? string.Empty, Environment.CurrentDirectory];
        foreach (string start in starts.Where(s => s.Length > 0 && Directory.Exists(s)))
        {
            for (DirectoryInfo? directory = new(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "HsmVault.sln")))
                {
                    return directory.FullName;
                }
            }
        }

        throw new AssertFailedException($"No folder above {string.Join(", ", starts)} holds HsmVault.sln.");
    }

    [GeneratedRegex(@"([0-9.e+]+) states, stored")]
    private static partial Regex StatesStored();

    private sealed record SpinRun(string Output, bool HasTrail, double StatesStored);
}
