using HsmVault.Benchmarks;

// Selectors name benchmark suites; unknown ones are reported and skipped so callers can pass
// selectors meant for suites other helpers add later.
var known = new Dictionary<string, Func<int>>(StringComparer.OrdinalIgnoreCase)
{
    ["crypto"] = CryptoSuite.Run,
    ["enclave"] = EnclaveBench.Run,
    ["e2e"] = EndToEndBench.Run,
    ["fleet"] = FleetBench.Run,
    ["crash"] = CrashBench.Run,
    ["ct"] = ConstantTimeBench.Run,
    ["seal"] = SealBench.Run,
    ["scale"] = ScaleBench.Run,
    ["scale-seed"] = ScaleBench.Seed,
    ["load"] = LoadBench.Run,
};

// Options such as --quick belong to the suites (they read the command line themselves).
// Options that take a value (e2e's --clients 1,8,64): their value is not a selector.
string[] valued = ["--clients", "--rounds", "--seed", "--ops", "--store", "--records", "--seconds", "--warmup", "--fleet", "--mix", "--users", "--via", "--minutes", "--sample-seconds", "--csv"];
var named = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (i == 0 || !valued.Contains(args[i - 1]))).ToArray();
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
