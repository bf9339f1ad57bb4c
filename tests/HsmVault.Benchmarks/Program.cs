using HsmVault.Benchmarks;

// Selectors name benchmark suites; unknown ones are reported and skipped so callers can pass
// selectors meant for suites other helpers add later.
var known = new Dictionary<string, Func<int>>(StringComparer.OrdinalIgnoreCase)
{
    ["crypto"] = CryptoSuite.Run,
    ["enclave"] = EnclaveBench.Run,
    ["e2e"] = EndToEndBench.Run,
};

// Options such as --quick belong to the suites (they read the command line themselves).
var named = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
var selectors = named.Length == 0 ? ["crypto"] : named;
int exitCode = 0;
foreach (var selector in selectors)
{
    if (known.TryGetValue(selector, out var run))
    {
        exitCode = Math.Max(exitCode, run());
    }
    else
    {
        Console.Error.WriteLine($"benchmarks: unknown selector '{selector}' ignored (known: {string.Join(", ", known.Keys)})");
    }
}

return exitCode;
