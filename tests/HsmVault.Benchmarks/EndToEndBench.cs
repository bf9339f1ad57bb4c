using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Text;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Testing;

namespace HsmVault.Benchmarks;

/// <summary>
/// Selector <c>e2e</c>: full recoveries through real processes on loopback (the simulator on a
/// fresh SoftHSM2 token, the host with its SQLite store, and <see cref="VaultClient"/>s in this
/// process), with 1, 8 and 64 concurrent clients, each on its own connection and its own user.
/// The enclave-only SoftHSM2 rate is measured first in the same run, so the two can be compared.
/// Clients use the identity KSF: Argon2id runs on the user's device, and on a shared 2-core
/// machine it would only measure the load generator. <c>--quick</c> shortens every phase;
/// <c>--clients 1,8,64</c> chooses the rows.
/// </summary>
public static class EndToEndBench
{
    private static readonly int[] DefaultConcurrency = [1, 8, 64];

    /// <summary>Entry for the selector table; reads <c>--quick</c> from the process command line.</summary>
    public static int Run() => Run(Environment.GetCommandLineArgs());

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick", StringComparer.Ordinal);
        TimeSpan warmUp = TimeSpan.FromSeconds(quick ? 1 : 3);
        TimeSpan measure = TimeSpan.FromSeconds(quick ? 4 : 15);
        int[] concurrency = DefaultConcurrency;
        int at = Array.IndexOf(args, "--clients");
        if (at >= 0)
        {
            string list = at + 1 < args.Length ? args[at + 1] : "";
            int[]? parsed = ParseClients(list);
            if (parsed is null)
            {
                Console.Error.WriteLine($"e2e: --clients '{list}': expected a comma-separated list of client counts from 1 to 1000, e.g. 1,8,64");
                return 2;
            }

            concurrency = parsed;
        }

        return RunAsync(warmUp, measure, quick ? 64 : 256, concurrency).GetAwaiter().GetResult();
    }

    internal static int[]? ParseClients(string list)
    {
        string[] parts = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var counts = new List<int>();
        foreach (string part in parts)
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n is < 1 or > 1000)
            {
                return null;
            }

            counts.Add(n);
        }

        return counts.Count == 0 ? null : [.. counts];
    }

    private static async Task<int> RunAsync(TimeSpan warmUp, TimeSpan measure, int enclaveLogins, int[] concurrency)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        Console.WriteLine($"e2e benchmark: enclave-only first, then real processes; {warmUp.TotalSeconds:F0} s warm-up and {measure.TotalSeconds:F0} s measured per row");
        Console.WriteLine();
        EnclaveBench.WarmUp();
        Console.WriteLine(EnclaveBench.TableHeader);
        IReadOnlyList<(string Name, int Batch, double Rate)> enclave = EnclaveBench.SoftHsmRows(enclaveLogins);
        double enclave1 = enclave.Single(r => r.Batch == 1).Rate;
        double enclave32 = enclave.Single(r => r.Batch == 32).Rate;
        Console.WriteLine();

        await using LocalFleet fleet = await LocalFleet.StartAsync($"bench-e2e-{Environment.ProcessId}").ConfigureAwait(false);
        int users = concurrency.Max();
        Stopwatch setup = Stopwatch.StartNew();
        await RegisterAsync(fleet.ClientOptions(IdentityKsf.Instance), users).ConfigureAwait(false);
        Console.WriteLine(string.Create(c, $"registered {users} users in {setup.Elapsed.TotalSeconds:F1} s; fleet-key set sha256 {Convert.ToHexStringLower(fleet.FleetKeys.Digest)[..16]}..."));
        Console.WriteLine();
        Console.WriteLine("| concurrent clients | recoveries | recoveries/s | p50 ms | p99 ms | max ms | ops per HSM batch | CPU ms/recovery: client, host, simulator |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---|");

        // One discarded round first: the host and simulator start cold, and tiered compilation
        // would otherwise be charged to whichever row comes first.
        await MeasureAsync(fleet.ClientOptions(IdentityKsf.Instance), () => Metrics.ReadAsync(fleet.HealthPort, [fleet.Host], [fleet.Simulator]), Math.Min(8, users), warmUp, warmUp + warmUp).ConfigureAwait(false);

        var summary = new StringBuilder();
        int failures = 0;
        foreach (int clients in concurrency)
        {
            Row row = await MeasureAsync(fleet.ClientOptions(IdentityKsf.Instance), () => Metrics.ReadAsync(fleet.HealthPort, [fleet.Host], [fleet.Simulator]), clients, warmUp, measure).ConfigureAwait(false);
            failures += row.Failures;
            Console.WriteLine(string.Create(c,
                $"| {clients} | {row.Recoveries} | {row.PerSecond:F0} | {row.P50:F1} | {row.P99:F1} | {row.Max:F1} | {row.OpsPerBatch:F1} | {row.ClientCpu:F2}, {row.HostCpu:F2}, {row.SimulatorCpu:F2} |"));
            summary.Append(c, $"c{clients}={row.PerSecond:F0}/s p50={row.P50:F1}ms p99={row.P99:F1}ms ");
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(c, $"e2e: {summary}enclave_softhsm_x1={enclave1:F0}/s enclave_softhsm_x32={enclave32:F0}/s"));
        if (failures > 0)
        {
            Console.Error.WriteLine($"e2e: {failures} recoveries did not return the registered key; the figures above are not valid");
            return 1;
        }

        return 0;
    }

    internal sealed record Row(int Recoveries, double PerSecond, double P50, double P99, double Max, double OpsPerBatch, double ClientCpu, double HostCpu, double SimulatorCpu, int Failures);

    internal static string User(int i) => "bench-user-" + i.ToString(CultureInfo.InvariantCulture);

    internal static byte[] Password(int i) => Encoding.UTF8.GetBytes("bench password " + i.ToString(CultureInfo.InvariantCulture));

    internal static byte[] Key(int i)
    {
        byte[] key = new byte[VaultClient.BackupKeyBytes];
        key.AsSpan().Fill((byte)i);
        return key;
    }

    internal static async Task RegisterAsync(VaultClientOptions options, int users)
    {
        await Parallel.ForAsync(0, users, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            await using VaultClient client = new(options);
            VaultOutcome outcome = await client.RegisterAsync(User(i), Password(i), Key(i), ct).ConfigureAwait(false);
            if (outcome is not UserRegistered)
            {
                throw new InvalidOperationException($"registering {User(i)}: {outcome.Describe()}");
            }
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// <paramref name="clients"/> clients, each with its own connection and user, recover in a loop:
    /// <paramref name="warmUp"/>, then <paramref name="measure"/> measured; <paramref name="metrics"/>
    /// reads batch counters and CPU times before and after.
    /// </summary>
    internal static async Task<Row> MeasureAsync(VaultClientOptions options, Func<Task<Metrics>> metrics, int clients, TimeSpan warmUp, TimeSpan measure)
    {
        VaultClient[] connected = new VaultClient[clients];
        for (int i = 0; i < clients; i++)
        {
            connected[i] = new VaultClient(options);
        }

        try
        {
            long measuring = 0;
            long stopAt = long.MaxValue;
            int failures = 0;
            var latencies = new List<double>[clients];
            async Task Loop(int i)
            {
                latencies[i] = [];
                while (Stopwatch.GetTimestamp() < Interlocked.Read(ref stopAt))
                {
                    long start = Stopwatch.GetTimestamp();
                    VaultOutcome outcome = await connected[i].RecoverAsync(User(i), Password(i)).ConfigureAwait(false);
                    long end = Stopwatch.GetTimestamp();
                    bool good = outcome is KeyRecovered recovered && recovered.Key.AsSpan().SequenceEqual(Key(i));
                    (outcome as IDisposable)?.Dispose();
                    if (Interlocked.Read(ref measuring) != 0 && end <= Interlocked.Read(ref stopAt))
                    {
                        latencies[i].Add(Stopwatch.GetElapsedTime(start, end).TotalMilliseconds);
                        if (!good)
                        {
                            Interlocked.Increment(ref failures);
                            Console.Error.WriteLine($"e2e: {User(i)}: {outcome.Describe()}");
                        }
                    }
                }
            }

            Task[] loops = Enumerable.Range(0, clients).Select(i => Task.Run(() => Loop(i))).ToArray();
            await Task.Delay(warmUp).ConfigureAwait(false);

            Metrics before = await metrics().ConfigureAwait(false);
            long begin = Stopwatch.GetTimestamp();
            Interlocked.Exchange(ref measuring, 1);
            Interlocked.Exchange(ref stopAt, begin + (long)(measure.TotalSeconds * Stopwatch.Frequency));
            await Task.WhenAll(loops).ConfigureAwait(false);
            Metrics after = await metrics().ConfigureAwait(false);

            double[] sorted = latencies.SelectMany(l => l).Order().ToArray();
            int n = sorted.Length;
            double perCpu(TimeSpan a, TimeSpan b) => n == 0 ? double.NaN : (b - a).TotalMilliseconds / n;
            return new Row(
                n,
                n / measure.TotalSeconds,
                Percentile(sorted, 0.50),
                Percentile(sorted, 0.99),
                n == 0 ? double.NaN : sorted[^1],
                after.Batches == before.Batches ? double.NaN : (double)(after.Operations - before.Operations) / (after.Batches - before.Batches),
                perCpu(before.Client, after.Client),
                perCpu(before.Host, after.Host),
                perCpu(before.Simulator, after.Simulator),
                failures);
        }
        finally
        {
            foreach (VaultClient client in connected)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

    /// <summary>The host's batch counters and each process's CPU time at one instant.</summary>
    internal sealed record Metrics(long Batches, long Operations, TimeSpan Client, TimeSpan Host, TimeSpan Simulator)
    {
        private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

        /// <summary>Batch counters from the host at <paramref name="healthPort"/>; CPU summed over <paramref name="hosts"/> and <paramref name="simulators"/>.</summary>
        public static async Task<Metrics> ReadAsync(int healthPort, IEnumerable<ChildProcess?> hosts, IEnumerable<ChildProcess?> simulators)
        {
            // The Prometheus text format: one "name{labels} value" line per sample.
            string text = await Http.GetStringAsync(new Uri($"http://127.0.0.1:{healthPort}/metrics")).ConfigureAwait(false);
            return new Metrics(
                Sample(text, "hsmvault_host_batches_total"),
                Sample(text, "hsmvault_host_batch_operations_sum"),
                Process.GetCurrentProcess().TotalProcessorTime,
                hosts.Aggregate(TimeSpan.Zero, (sum, child) => sum + CpuTime(child)),
                simulators.Aggregate(TimeSpan.Zero, (sum, child) => sum + CpuTime(child)));
        }

        // The sum over a metric's samples (0 before the first measurement, when the exporter lists none).
        private static long Sample(string text, string name) =>
            (long)text.Split('\n')
                .Where(line => line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] is '{' or ' ')
                .Sum(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

        private static TimeSpan CpuTime(ChildProcess? child)
        {
            if (child is null || child.HasExited)
            {
                return TimeSpan.Zero;
            }

            using Process process = Process.GetProcessById(child.Id);
            return process.TotalProcessorTime;
        }
    }
}
