using HsmVault.Fuzz;
using SharpFuzz;

// The fuzz program (docs/RELIABILITY.md). `build.ps1 fuzz` runs `afl TARGET` under afl-fuzz after
// instrumenting the HsmVault assemblies; the other commands work without AFL.
const string Usage = "usage: HsmVault.Fuzz list | afl TARGET | assemblies TARGET | replay TARGET FILE|DIR... | seeds TARGET|all DIR";

if (args.Length == 0)
{
    Console.Error.WriteLine(Usage);
    return 2;
}

// Instrumented code writes to SharpFuzz's trace map, which Fuzzer.Run points at afl-fuzz's shared
// memory; until then (and in every command but afl) it writes to a scratch map instead.
AflScratchMap.Install();

switch (args[0])
{
    case "list":
        foreach (FuzzTarget target in FuzzTargets.Create())
        {
            Console.WriteLine($"{target.Name,-14} {target.Feeds}");
        }

        return 0;

    case "afl" when args.Length == 2 && FuzzTargets.Find(args[1]) is { } target:
    {
        target.Prepare();
        Fuzzer.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            target.Run(buffer.ToArray());
        });
        return 0;
    }

    case "assemblies" when args.Length == 2 && FuzzTargets.Find(args[1]) is { } target:
        foreach (string assembly in target.InstrumentedAssemblies)
        {
            Console.WriteLine(assembly);
        }

        return 0;

    case "replay" when args.Length >= 3 && FuzzTargets.Find(args[1]) is { } target:
    {
        target.Prepare();
        var files = args[2..].SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p).Order(StringComparer.Ordinal).ToArray() : new[] { p }).ToList();
        int failed = 0;
        var slowest = TimeSpan.Zero;
        long most = 0;
        foreach (string file in files)
        {
            ReplayResult result = FuzzReplay.Run(target, File.ReadAllBytes(file), Path.GetFileName(file));
            failed += result.Failed ? 1 : 0;
            slowest = result.Elapsed > slowest ? result.Elapsed : slowest;
            most = Math.Max(most, result.AllocatedBytes);
            Console.WriteLine(result.Failed ? $"{result}\n{result.Error}" : result.ToString());
        }

        Console.WriteLine($"replay {target.Name}: {files.Count} inputs, {failed} failed; slowest {slowest.TotalMilliseconds:F1} ms (limit {target.TimeLimit.TotalMilliseconds:F0}), most allocated {most:N0} bytes (limit {target.AllocationLimitBytes:N0})");
        return failed == 0 ? 0 : 1;
    }

    case "seeds" when args.Length == 3 && (args[1] == "all" || FuzzTargets.Find(args[1]) is not null):
        foreach (FuzzTarget target in FuzzTargets.Create().Where(t => args[1] == "all" || t.Name == args[1]))
        {
            string folder = Path.Combine(args[2], target.Name);
            Directory.CreateDirectory(folder);
            int count = 0;
            foreach ((string name, byte[] data) in target.Seeds())
            {
                File.WriteAllBytes(Path.Combine(folder, $"seed-{name}"), data);
                count++;
            }

            Console.WriteLine($"seeds {target.Name}: {count} files in {folder}");
        }

        return 0;

    default:
        Console.Error.WriteLine($"{Usage}\ntargets: {string.Join(", ", FuzzTargets.Names)}");
        return 2;
}
