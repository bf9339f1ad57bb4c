using System.Text.RegularExpressions;

namespace HsmVault.Fuzz.Tests;

/// <summary>
/// The CI half of the fuzzing (docs/RELIABILITY.md): every file of fuzz/corpus/&lt;target&gt;, kept
/// from afl-fuzz runs, and every seed, replayed in process through its target. Each must end in a
/// typed error or a valid answer, within the target's time limit and allocation limit.
/// </summary>
[TestClass]
public sealed class CorpusReplayTests
{
    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> Targets => FuzzTargets.Names.Select(name => new object[] { name });

    [TestMethod]
    [DynamicData(nameof(Targets))]
    public void Every_corpus_input_ends_in_a_typed_answer_within_the_limits(string name)
    {
        string folder = RepositoryPaths.Corpus(name);
        string[] files = Directory.Exists(folder) ? [.. Directory.GetFiles(folder).Order(StringComparer.Ordinal)] : [];
        Assert.IsGreaterThanOrEqualTo(5, files.Length, $"fuzz/corpus/{name} should hold the kept corpus (build.ps1 fuzz --target {name} writes it)");
        Replay(name, files.Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))));
    }

    [TestMethod]
    [DynamicData(nameof(Targets))]
    public void Every_seed_ends_in_a_typed_answer_within_the_limits(string name)
    {
        FuzzTarget target = FuzzTargets.Find(name)!;
        Replay(name, target.Seeds().Select(s => ($"seed-{s.Name}", s.Data)));
    }

    [TestMethod]
    public void Every_corpus_folder_is_a_target_and_build_ps1_lists_every_target()
    {
        string[] folders = [.. Directory.GetDirectories(Path.Combine(RepositoryPaths.Root, "fuzz", "corpus")).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
        CollectionAssert.AreEquivalent(FuzzTargets.Names.ToArray(), folders, "fuzz/corpus has one folder per target");
        string script = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "build.ps1"));
        Match list = Regex.Match(script, @"\$FuzzTargets = @\(([^)]*)\)");
        Assert.IsTrue(list.Success, "build.ps1 defines $FuzzTargets");
        string[] listed = [.. Regex.Matches(list.Groups[1].Value, "'([^']+)'").Select(m => m.Groups[1].Value)];
        CollectionAssert.AreEqual(FuzzTargets.Names.ToArray(), listed, "build.ps1's $FuzzTargets and FuzzTargets.Names name the same targets in the same order");
    }

    private void Replay(string name, IEnumerable<(string Name, byte[] Data)> inputs)
    {
        FuzzTarget target = FuzzTargets.Find(name)!;
        target.Prepare();
        var results = inputs.Select(input => FuzzReplay.Run(target, input.Data, input.Name)).ToList();
        Assert.IsNotEmpty(results, $"no inputs for {name}");
        ReplayResult slowest = results.MaxBy(r => r.Elapsed)!;
        ReplayResult hungriest = results.MaxBy(r => r.AllocatedBytes)!;
        string summary = (
            $"fuzz replay {name}: {results.Count} inputs, slowest {slowest.Elapsed.TotalMilliseconds:F1} ms (limit {target.TimeLimit.TotalMilliseconds:F0}), " +
            $"most allocated {hungriest.AllocatedBytes:N0} bytes (limit {target.AllocationLimitBytes:N0}); outcomes: " +
            string.Join(", ", results.GroupBy(r => r.Label ?? "-").OrderByDescending(g => g.Count()).Take(8).Select(g => $"{g.Key} x{g.Count()}")));
        TestContext.WriteLine(summary);
        Console.WriteLine(summary);
        string[] failures = [.. results.Where(r => r.Failed).Select(r => $"{r}\n{r.Error}")];
        Assert.IsEmpty(failures, $"{failures.Length} of {results.Count} inputs of {name} failed:\n{string.Join("\n", failures)}");
    }
}
