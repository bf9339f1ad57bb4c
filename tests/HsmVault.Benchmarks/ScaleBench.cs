using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Text;
using System.Text.RegularExpressions;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Enclave;
using HsmVault.Host.Store;
using HsmVault.Protocol.Merkle;
using HsmVault.Simulator;
using HsmVault.Simulator.Pkcs11;
using HsmVault.Testing;
using Npgsql;

namespace HsmVault.Benchmarks;

/// <summary>
/// Selector <c>scale</c>: recovery latency through the real host and simulator processes, with
/// 10^3, 10^5 and 10^6 records in the store (<c>--records 1000,100000,1000000</c>), on SQLite and
/// on PostgreSQL (<c>--store sqlite|postgres|both</c>). Each size is seeded by a child process
/// (selector <c>scale-seed</c>, <see cref="ScaleSeeder"/>: the enclave's own batch path over the
/// simulator's token, written by the host's store code), then a few hundred real users register
/// through <see cref="VaultClient"/> and one client recovers them in turn. Reported per size and store:
/// registration p50, recovery p50/p99, host RSS and GC heap, simulator RSS, store size on disk, and
/// the Merkle proof per lookup; last, p50 at the largest size over p50 at the smallest.
/// </summary>
public static partial class ScaleBench
{
    private const string TokenLabel = "hsmvault-scale";
    private const string SeedDirectoryVariable = "HSMVAULT_SCALE_SEED_DIR";
    private const string SeedRecordsVariable = "HSMVAULT_SCALE_SEED_RECORDS";
    private const string SeedPostgresVariable = "HSMVAULT_SCALE_SEED_POSTGRES";
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public static int Run() => Run(Environment.GetCommandLineArgs());

    public static int Run(string[] args)
    {
        long[] sizes = [1_000, 100_000, 1_000_000];
        int at = Array.IndexOf(args, "--records");
        if (at >= 0)
        {
            long[]? parsed = at + 1 < args.Length ? ParseSizes(args[at + 1]) : null;
            if (parsed is null)
            {
                Console.Error.WriteLine("scale: --records: expected a comma-separated list of record counts from 1000 to 100000000, e.g. 1000,100000,1000000");
                return 2;
            }

            sizes = parsed;
        }

        string store = "both";
        at = Array.IndexOf(args, "--store");
        if (at >= 0)
        {
            store = at + 1 < args.Length ? args[at + 1].ToLowerInvariant() : "";
            if (store is not ("sqlite" or "postgres" or "both"))
            {
                Console.Error.WriteLine("scale: --store: expected sqlite, postgres or both");
                return 2;
            }
        }

        bool quick = args.Contains("--quick", StringComparer.Ordinal);
        return RunAsync(sizes, store is "sqlite" or "both", store is "postgres" or "both", quick ? 50 : 200, quick ? 100 : 300, quick ? 1 : 3).GetAwaiter().GetResult();
    }

    /// <summary>Selector <c>scale-seed</c>, the child process: seeds the folder the parent names in the environment.</summary>
    public static int Seed()
    {
        string directory = Environment.GetEnvironmentVariable(SeedDirectoryVariable) ?? throw new InvalidOperationException($"{SeedDirectoryVariable} is not set");
        long records = long.Parse(Environment.GetEnvironmentVariable(SeedRecordsVariable) ?? "0", CultureInfo.InvariantCulture);
        string? postgres = Environment.GetEnvironmentVariable(SeedPostgresVariable);
        Pkcs11Options options = SoftHsmStateDirectory.Prepare(Path.Combine(directory, "hsm"), Pkcs11Options.SoftHsm2LibraryPath, TokenLabel);
        using Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(options);
        using Pkcs11HsmServices second = Pkcs11HsmServices.OpenOrProvision(options);
        using SqliteVaultStore sqlite = SqliteVaultStore.Open(Path.Combine(directory, "host.db"));
        using PostgresVaultStore? mirror = postgres is { Length: > 0 } ? PostgresVaultStore.Open(postgres) : null;
        using var seeder = new ScaleSeeder(hsm, VaultPolicy.Default, sqlite, mirror, second);
        Stopwatch clock = Stopwatch.StartNew();
        long shown = 0;
        seeder.FillTo(records, count =>
        {
            if (clock.ElapsedMilliseconds - shown >= 5_000 || count == records)
            {
                shown = clock.ElapsedMilliseconds;
                double rate = count / clock.Elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"seeding: {count:N0} of {records:N0} records, {rate:F0}/s, {(records - count) / Math.Max(rate, 1) / 60:F1} min to go " +
                    $"(s in client sealing {seeder.SealTime.TotalSeconds:F0}, witnesses {seeder.WitnessTime.TotalSeconds:F0}, enclave {seeder.EnclaveTime.TotalSeconds:F0}, store commit {seeder.CommitTime.TotalSeconds:F0})"));
            }
        });
        seeder.Flush();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seeded {seeder.Records} records in {clock.Elapsed.TotalSeconds:F1} s"));
        return 0;
    }

    internal static long[]? ParseSizes(string list)
    {
        var sizes = new List<long>();
        foreach (string part in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n is < 1_000 or > 100_000_000)
            {
                return null;
            }

            sizes.Add(n);
        }

        return sizes.Count == 0 ? null : [.. sizes.Order()];
    }

    private sealed record Row(string Store, long Records, double SeedSeconds, double RegisterP50, double P50, double P99, int Recoveries,
        double HostRssMb, double HostGcHeapMb, double SimulatorRssMb, double StoreMb, double Siblings, double ProofBytes, int MaxSiblings);

    /// <summary>One seeded vault: its folder, which token copy and store the host uses, and what the runs measured.</summary>
    private sealed class Vault(string store, long records, string directory, string hsmFolder, IReadOnlyList<string> hostSettings, Func<double> storeBytes, double seedSeconds)
    {
        public string Store => store;

        public long Records => records;

        public string Directory => directory;

        public string HsmFolder => hsmFolder;

        public IReadOnlyList<string> HostSettings => hostSettings;

        public Func<double> StoreBytes => storeBytes;

        public double SeedSeconds => seedSeconds;

        public List<double> Registrations { get; } = [];

        public List<double> Recoveries { get; } = [];

        public (double HostRss, double HostGcHeap, double SimulatorRss, double Store) Memory { get; set; }
    }

    private static async Task<int> RunAsync(long[] sizes, bool sqlite, bool postgres, int realUsers, int recoveries, int rounds)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        Console.WriteLine($"scale benchmark: records {string.Join(", ", sizes)}; stores {(sqlite ? "sqlite " : "")}{(postgres ? "postgres" : "")}; {realUsers} real users registered through the host; {rounds} rounds over every vault of {recoveries} recoveries by one client");
        using PostgresCluster? cluster = postgres ? PostgresCluster.Start() : null;
        var vaults = new List<Vault>();
        var proofs = new Dictionary<long, (double Siblings, double Bytes, int Max)>();
        try
        {
            // Seed every size first, then measure the vaults in interleaved rounds, so that a shared
            // machine's slow minutes fall on every size alike rather than on whichever ran then.
            foreach (long size in sizes)
            {
                string directory = System.IO.Directory.CreateTempSubdirectory($"hsmvault-scale-{size}-").FullName;
                string? connection = cluster?.CreateDatabase($"scale_{size}");
                double seedSeconds = await SeedAsync(directory, size - realUsers, connection).ConfigureAwait(false);
                if (sqlite)
                {
                    vaults.Add(new Vault("sqlite", size, directory, "hsm", [], () => SqliteBytes(directory), seedSeconds));
                }

                if (postgres)
                {
                    CopyToken(Path.Combine(directory, "hsm"), Path.Combine(directory, "hsm-pg"));
                    vaults.Add(new Vault("postgres", size, directory, "hsm-pg", ["--Store:Kind=postgres", "--Store:ConnectionString=" + connection], () => PostgresBytes(connection!), seedSeconds));
                }
            }

            for (int round = 0; round < rounds; round++)
            {
                foreach (Vault vault in vaults)
                {
                    await MeasureAsync(vault, register: round == 0, realUsers, recoveries, seed: round).ConfigureAwait(false);
                }
            }

            foreach (long size in sizes)
            {
                proofs[size] = ProofSizes(vaults.First(v => v.Records == size).Directory, realUsers, size - realUsers);
            }
        }
        finally
        {
            foreach (string directory in vaults.Select(v => v.Directory).Distinct())
            {
                System.IO.Directory.Delete(directory, recursive: true);
            }
        }

        var rows = vaults.Select(v =>
        {
            double[] recovered = [.. v.Recoveries.Order()];
            (double siblings, double bytes, int max) = proofs[v.Records];
            return new Row(v.Store, v.Records, v.SeedSeconds, Percentile([.. v.Registrations.Order()], 0.5), Percentile(recovered, 0.5), Percentile(recovered, 0.99), recovered.Length,
                v.Memory.HostRss, v.Memory.HostGcHeap, v.Memory.SimulatorRss, v.Memory.Store, siblings, bytes, max);
        }).ToList();

        Console.WriteLine();
        Console.WriteLine("| store | records | seeding s | register p50 ms | recoveries | recovery p50 ms | p99 ms | host RSS MB | host GC heap MB | simulator RSS MB | store on disk MB | bytes/record | proof siblings (mean / max) | proof bytes |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (Row r in rows)
        {
            Console.WriteLine(string.Create(c,
                $"| {r.Store} | {r.Records:N0} | {r.SeedSeconds:F0} | {r.RegisterP50:F1} | {r.Recoveries} | {r.P50:F1} | {r.P99:F1} | {r.HostRssMb:F0} | {r.HostGcHeapMb:F1} | {r.SimulatorRssMb:F0} | {r.StoreMb:F0} | {r.StoreMb * 1024 * 1024 / r.Records:F0} | {r.Siblings:F1} / {r.MaxSiblings} | {r.ProofBytes:F0} |"));
        }

        Console.WriteLine();
        var summary = new StringBuilder("scale:");
        foreach (IGrouping<string, Row> store in rows.GroupBy(r => r.Store))
        {
            Row small = store.MinBy(r => r.Records)!, large = store.MaxBy(r => r.Records)!;
            summary.Append(c, $" {store.Key}: p50 {small.P50:F1} ms at {small.Records} -> {large.P50:F1} ms at {large.Records}, ratio {large.P50 / small.P50:F2};");
        }

        Console.WriteLine(summary.ToString().TrimEnd(';'));
        return 0;
    }

    // The seeding child: the enclave over the token in directory/hsm, the stores; prints its progress here.
    private static async Task<double> SeedAsync(string directory, long records, string? postgres)
    {
        var environment = new Dictionary<string, string>
        {
            [SeedDirectoryVariable] = directory,
            [SeedRecordsVariable] = records.ToString(CultureInfo.InvariantCulture),
            [SeedPostgresVariable] = postgres ?? "",
        };
        await using ChildProcess child = ChildProcess.Start("seeder", typeof(ScaleBench).Assembly.Location, ["scale-seed"], environment);
        string shown = "";
        while (!child.HasExited)
        {
            await Task.Delay(1_000).ConfigureAwait(false);
            string last = child.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(l => l.StartsWith("seeding:", StringComparison.Ordinal)) ?? "";
            if (last != shown)
            {
                Console.Error.WriteLine(last.Trim());
                shown = last;
            }
        }

        Match done = SeededLine().Match(child.Output);
        if (await child.WaitForExitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false) != 0 || !done.Success)
        {
            throw new InvalidOperationException("seeding failed:\n" + child.Output);
        }

        Console.WriteLine(done.Value);
        return double.Parse(done.Groups["seconds"].Value, CultureInfo.InvariantCulture);
    }

    // A second, identical HSM for the second store: the token files copied, its configuration pointed at the copy.
    private static void CopyToken(string from, string to)
    {
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        SoftHsmStateDirectory.WriteConfiguration(Path.Combine(to, "softhsm2.conf"), Path.Combine(to, "tokens"));
    }

    private static async Task MeasureAsync(Vault vault, bool register, int realUsers, int recoveries, int seed)
    {
        await using LocalFleet fleet = await LocalFleet.OpenAsync(vault.Directory, vault.HsmFolder, TokenLabel, vault.HostSettings).ConfigureAwait(false);
        VaultClientOptions options = fleet.ClientOptions(IdentityKsf.Instance);
        await using VaultClient client = new(options);
        for (int i = 0; register && i < realUsers; i++)
        {
            long start = Stopwatch.GetTimestamp();
            VaultOutcome outcome = await client.RegisterAsync(EndToEndBench.User(i), EndToEndBench.Password(i), EndToEndBench.Key(i)).ConfigureAwait(false);
            vault.Registrations.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            if (outcome is not UserRegistered)
            {
                throw new InvalidOperationException($"registering {EndToEndBench.User(i)} at {vault.Records} records: {outcome.Describe()}");
            }
        }

        // Warm-up (JIT, caches) not counted, then the measured recoveries, users in a shuffled order.
        var random = new Random(17 + seed);
        var latencies = new List<double>();
        for (int n = 0; n < recoveries + recoveries / 5; n++)
        {
            int i = random.Next(realUsers);
            long start = Stopwatch.GetTimestamp();
            VaultOutcome outcome = await client.RecoverAsync(EndToEndBench.User(i), EndToEndBench.Password(i)).ConfigureAwait(false);
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            bool good = outcome is KeyRecovered recovered && recovered.Key.AsSpan().SequenceEqual(EndToEndBench.Key(i));
            (outcome as IDisposable)?.Dispose();
            if (!good)
            {
                throw new InvalidOperationException($"recovering {EndToEndBench.User(i)} at {vault.Records} records on {vault.Store}: {outcome.Describe()}");
            }

            if (n >= recoveries / 5)
            {
                latencies.Add(ms);
            }
        }

        vault.Recoveries.AddRange(latencies);
        string metrics = await Http.GetStringAsync(new Uri($"http://127.0.0.1:{fleet.HealthPort}/metrics")).ConfigureAwait(false);
        vault.Memory = (RssMb(fleet.Host!), SampleSum(metrics, "dotnet_gc_last_collection_heap_size") / (1024 * 1024), RssMb(fleet.Simulator!), vault.StoreBytes() / (1024 * 1024));
        double[] sorted = [.. latencies.Order()];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"round {seed + 1}, {vault.Store} at {vault.Records:N0} records: recovery p50 {Percentile(sorted, 0.5):F1} ms p99 {Percentile(sorted, 0.99):F1} ms, host RSS {vault.Memory.HostRss:F0} MB (GC heap {vault.Memory.HostGcHeap:F1} MB), simulator RSS {vault.Memory.SimulatorRss:F0} MB, store {vault.Memory.Store:F0} MB"));
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static double RssMb(ChildProcess process)
    {
        string line = File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }

    // The sum of a Prometheus metric's samples (over its label sets).
    private static double SampleSum(string text, string name) =>
        text.Split('\n')
            .Where(line => line.StartsWith(name, StringComparison.Ordinal) && !line.StartsWith('#'))
            .Sum(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    private static double SqliteBytes(string directory) => SqliteStoreBytes(Path.Combine(directory, "host.db"));

    /// <summary>Bytes of a SQLite store on disk: the file and its write-ahead log.</summary>
    internal static double SqliteStoreBytes(string path) =>
        new[] { path, path + "-wal" }.Where(File.Exists).Sum(p => (double)new FileInfo(p).Length);

    private static double PostgresBytes(string connection)
    {
        using var db = new NpgsqlConnection(connection);
        db.Open();
        using var command = new NpgsqlCommand("SELECT pg_database_size(current_database())", db);
        return Convert.ToDouble(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    // What the enclave receives per lookup: the proofs of the real users and of as many fillers, from the
    // SQLite store after the run (the same tree as the PostgreSQL one).
    private static (double Siblings, double Bytes, int Max) ProofSizes(string directory, int realUsers, long fillers)
    {
        using SqliteVaultStore store = SqliteVaultStore.Open(Path.Combine(directory, "host.db"));
        var tree = new SparseMerkleTree(store.Nodes, store.State.MerkleRoot);
        var proofs = Enumerable.Range(0, realUsers)
            .SelectMany(i => new[] { EndToEndBench.User(i), ScaleSeeder.FillerPrefix + (i * fillers / realUsers).ToString(CultureInfo.InvariantCulture) })
            .Select(user => tree.Prove(MerkleHashing.UserKey(Encoding.UTF8.GetBytes(user))))
            .ToList();
        return (proofs.Average(p => p.Siblings.Count), proofs.Average(p => p.CalculateSize()), proofs.Max(p => p.Siblings.Count));
    }

    [GeneratedRegex(@"seeded \d+ records in (?<seconds>[0-9.]+) s")]
    private static partial Regex SeededLine();
}
