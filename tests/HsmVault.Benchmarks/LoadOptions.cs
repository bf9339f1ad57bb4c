using System.Globalization;

namespace HsmVault.Benchmarks;

/// <summary>The options of <c>load</c> (and <c>load --soak</c>), parsed with an error that names the option.</summary>
internal sealed record LoadOptions
{
    public const string Usage = """
        load: a load generator against a local fleet of real processes (N simulators on SoftHSM2 tokens, N hosts)

        usage: HsmVault.Benchmarks.dll load [options]        (build.ps1 load [options])
               HsmVault.Benchmarks.dll load --soak [options] (build.ps1 soak [options])

          --clients N         concurrent clients, each its own connection and user (1-1000; default 16);
                              with --mix guess: concurrent guessers
          --seconds S         measured seconds after the warm-up (1-86400; default 60)
          --warmup S          unmeasured seconds first, so start-up costs are not counted (0-600; default 5)
          --fleet N           fleet members: 1 (one simulator, one host) or an odd number up to 7 (default 5)
          --store K           sqlite (one file shared by the hosts; default) or postgres (PostgreSQL 15+ on loopback,
                              started and stopped by the run)
          --mix M             recover (default): right-password recoveries;
                              register: each client re-registers its user with a new key;
                              mixed: 60% recover, 15% status, 15% a wrong guess (the next recovery resets it),
                              10% re-register;
                              guess: brute force: --users users, --clients guessers sending random wrong passwords
                              at all of them at once; afterwards every user's status must match what clients were told
          --users N           users attacked by --mix guess (1-1000; default 20)
          --via V             all (default): client i talks to host i mod N; leader: every client to the leader's host
          --reference         first run the same load against a fleet of 1 and print the ratios (fleet N / fleet 1)
          --seed S            seed of --mix guess and of the mixed draws (default: new, printed)
          --soak              sample every process's RSS and GC heap during the run and judge their flatness
          --minutes M         soak length in minutes (implies --soak; 1-1440; default 10); sets --seconds
          --sample-seconds S  soak sampling period (1-600; default 10)
          --csv PATH          soak series file (default artifacts/load/soak-<UTC time>.csv)
          --help              this text

        A live line each second (operations/s, p50/p99 of that second, errors by type) and a summary at the end:
        throughput, p50/p99/p999, errors by the client's result types, and CPU milliseconds per successful operation
        for every simulator and host process (utime+stime from /proc/PID/stat before and after). Exit 1 when an answer
        is wrong (a wrong key, a brute-force count that does not match), 2 on a bad option.
        """;

    public int Clients { get; init; } = 16;

    public int Seconds { get; init; } = 60;

    public int WarmUp { get; init; } = 5;

    public int Fleet { get; init; } = 5;

    public bool Postgres { get; init; }

    public string Mix { get; init; } = "recover";

    public int Users { get; init; } = 20;

    public bool ViaLeader { get; init; }

    public bool Reference { get; init; }

    public int Seed { get; init; } = Random.Shared.Next(1, int.MaxValue);

    public bool Soak { get; init; }

    public int SampleSeconds { get; init; } = 10;

    public string? Csv { get; init; }

    public bool Help { get; init; }

    /// <summary>Parses <paramref name="args"/> (after the selector); returns null and an error naming the option on bad input.</summary>
    public static LoadOptions? Parse(IReadOnlyList<string> args, out string? error)
    {
        var options = new LoadOptions();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        bool mixGiven = false;
        error = null;
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            if (name is "--help" or "-h")
            {
                return options with { Help = true };
            }

            if (!seen.Add(name))
            {
                error = $"load: {name} is given twice; give it once";
                return null;
            }

            if (name is "--soak" or "--reference")
            {
                options = name == "--soak" ? options with { Soak = true } : options with { Reference = true };
                continue;
            }

            if (!name.StartsWith("--", StringComparison.Ordinal) || !Valued.Contains(name))
            {
                error = $"load: unknown option '{name}' (load --help lists them)";
                return null;
            }

            if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                error = $"load: {name} needs a value (load --help)";
                return null;
            }

            string value = args[++i];
            switch (name)
            {
                case "--clients" when Number(value, 1, 1000) is { } n: options = options with { Clients = n }; break;
                case "--seconds" when Number(value, 1, 86_400) is { } n: options = options with { Seconds = n }; break;
                case "--warmup" when Number(value, 0, 600) is { } n: options = options with { WarmUp = n }; break;
                case "--fleet" when Number(value, 1, 7) is { } n && (n == 1 || n % 2 == 1): options = options with { Fleet = n }; break;
                case "--users" when Number(value, 1, 1000) is { } n: options = options with { Users = n }; break;
                case "--seed" when Number(value, 1, int.MaxValue) is { } n: options = options with { Seed = n }; break;
                case "--minutes" when Number(value, 1, 1440) is { } n: options = options with { Soak = true, Seconds = n * 60 }; break;
                case "--sample-seconds" when Number(value, 1, 600) is { } n: options = options with { SampleSeconds = n }; break;
                case "--store" when value is "sqlite" or "postgres": options = options with { Postgres = value == "postgres" }; break;
                case "--mix" when value is "recover" or "register" or "mixed" or "guess": options = options with { Mix = value }; mixGiven = true; break;
                case "--via" when value is "all" or "leader": options = options with { ViaLeader = value == "leader" }; break;
                case "--csv" when value.Length > 0: options = options with { Csv = value }; break;
                default:
                    error = $"load: {name} '{value}': expected {Expected[name]}";
                    return null;
            }
        }

        if (options.Soak && !mixGiven)
        {
            // A soak exercises every operation unless told otherwise.
            options = options with { Mix = "mixed" };
        }

        if (options.Soak && seen.Contains("--seconds") && seen.Contains("--minutes"))
        {
            error = "load: give --minutes or --seconds for a soak, not both";
            return null;
        }

        if (options.Soak && !seen.Contains("--seconds") && !seen.Contains("--minutes"))
        {
            options = options with { Seconds = 600 };
        }

        if (options.Soak && options.Mix == "guess")
        {
            error = "load: --soak runs recover, register or mixed, not --mix guess (the guesses end when every record is destroyed)";
            return null;
        }

        if (options.Reference && options.Fleet == 1)
        {
            error = "load: --reference compares against a fleet of 1; it needs --fleet 3, 5 or 7";
            return null;
        }

        return options;
    }

    private static readonly HashSet<string> Valued =
        ["--clients", "--seconds", "--warmup", "--fleet", "--store", "--mix", "--users", "--via", "--seed", "--minutes", "--sample-seconds", "--csv"];

    private static readonly Dictionary<string, string> Expected = new(StringComparer.Ordinal)
    {
        ["--clients"] = "a whole number from 1 to 1000",
        ["--seconds"] = "a whole number of seconds from 1 to 86400",
        ["--warmup"] = "a whole number of seconds from 0 to 600",
        ["--fleet"] = "1, 3, 5 or 7",
        ["--users"] = "a whole number from 1 to 1000",
        ["--seed"] = "a positive whole number",
        ["--minutes"] = "a whole number of minutes from 1 to 1440",
        ["--sample-seconds"] = "a whole number of seconds from 1 to 600",
        ["--store"] = "sqlite or postgres",
        ["--mix"] = "recover, register, mixed or guess",
        ["--via"] = "all or leader",
        ["--csv"] = "a file path",
    };

    private static int? Number(string text, int min, int max) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max ? n : null;
}
