using System.Globalization;
using HsmVault.Testing;

namespace HsmVault.Benchmarks;

/// <summary>
/// <c>build.ps1 crash --rounds N [--seed S] [--store postgres]</c>: the crash-consistency run
/// (<see cref="CrashRun"/>) for as long as asked. A new seed each run unless given; it is printed
/// first, and the same seed replays the same run. Exit 1 on any violation.
/// </summary>
public static class CrashBench
{
    public static int Run() => Run(Environment.GetCommandLineArgs());

    public static int Run(string[] args)
    {
        int rounds = Value(args, "--rounds", 5);
        int seed = Value(args, "--seed", Random.Shared.Next(1, int.MaxValue));
        int ops = Value(args, "--ops", 40);
        if (rounds < 1 || ops < 1)
        {
            Console.Error.WriteLine("crash: --rounds and --ops must be positive whole numbers");
            return 2;
        }

        bool postgres = args.Contains("postgres", StringComparer.OrdinalIgnoreCase);
        Console.WriteLine($"crash: seed {seed} (replay with --seed {seed}), {rounds} rounds of {ops} operations, store {(postgres ? "postgres" : "sqlite")}");
        using PostgresCluster? cluster = postgres ? PostgresCluster.Start() : null;
        CrashRun.Report report = CrashRun.RunAsync(new CrashRun.Options(rounds, seed, ops, Postgres: cluster?.CreateDatabase("crash"), Log: Console.Out)).GetAwaiter().GetResult();
        Console.WriteLine(report.Summary);
        foreach (string violation in report.Violations)
        {
            Console.Error.WriteLine("crash: VIOLATION " + violation);
        }

        return report.Violations.Count == 0 ? 0 : 1;
    }

    private static int Value(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length && int.TryParse(args[at + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) ? value : at >= 0 ? -1 : fallback;
    }
}
