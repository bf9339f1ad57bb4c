using System.Globalization;
using System.Text;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Testing;

namespace HsmVault.Benchmarks;

/// <summary>
/// The fleet's cost, in one run: full recoveries through real processes against (a) the single-HSM
/// vault, (b) a fleet of one member, (c) a fleet of five (five simulators on five SoftHSM2 tokens, five
/// hosts sharing one SQLite file), each at 1, 8 and 64 concurrent clients talking to the leader's host;
/// then (d) the five-member fleet at the largest client count with batching off
/// (<c>Hsm:MaxBatchOperations=1</c>: one operation per log entry). Every process shares this
/// machine's cores. <c>--quick</c> shortens every phase; <c>--clients</c> chooses the rows.
/// </summary>
public static class FleetBench
{
    public static int Run() => Run(Environment.GetCommandLineArgs());

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick", StringComparer.Ordinal);
        int[] concurrency = [1, 8, 64];
        int at = Array.IndexOf(args, "--clients");
        if (at >= 0)
        {
            string list = at + 1 < args.Length ? args[at + 1] : "";
            if (EndToEndBench.ParseClients(list) is not { } parsed)
            {
                Console.Error.WriteLine($"fleet: --clients '{list}': expected a comma-separated list of client counts from 1 to 1000, e.g. 1,8,64");
                return 2;
            }

            concurrency = parsed;
        }

        return RunAsync(TimeSpan.FromSeconds(quick ? 1 : 3), TimeSpan.FromSeconds(quick ? 4 : 15), concurrency).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(TimeSpan warmUp, TimeSpan measure, int[] concurrency)
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        int users = concurrency.Max();
        var rates = new Dictionary<(string, int), double>();
        int failures = 0;
        Console.WriteLine($"fleet benchmark: {warmUp.TotalSeconds:F0} s warm-up and {measure.TotalSeconds:F0} s measured per row, {Environment.ProcessorCount} cores shared by every process");
        Console.WriteLine();
        Console.WriteLine("| vault | clients | recoveries | recoveries/s | p50 ms | p99 ms | max ms | ops per entry | CPU ms/recovery: client, hosts, simulators |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---|");

        async Task Rows(string name, VaultClientOptions options, Func<Task<EndToEndBench.Metrics>> metrics, int[] rows)
        {
            await EndToEndBench.RegisterAsync(options, users).ConfigureAwait(false);
            await EndToEndBench.MeasureAsync(options, metrics, Math.Min(8, users), warmUp, warmUp + warmUp).ConfigureAwait(false);
            foreach (int clients in rows)
            {
                EndToEndBench.Row row = await EndToEndBench.MeasureAsync(options, metrics, clients, warmUp, measure).ConfigureAwait(false);
                failures += row.Failures;
                rates[(name, clients)] = row.PerSecond;
                Console.WriteLine(string.Create(c,
                    $"| {name} | {clients} | {row.Recoveries} | {row.PerSecond:F0} | {row.P50:F1} | {row.P99:F1} | {row.Max:F1} | {row.OpsPerBatch:F1} | {row.ClientCpu:F2}, {row.HostCpu:F2}, {row.SimulatorCpu:F2} |"));
            }
        }

        await using (LocalFleet single = await LocalFleet.StartAsync($"bench-fleet-{Environment.ProcessId}").ConfigureAwait(false))
        {
            await Rows("single HSM", single.ClientOptions(IdentityKsf.Instance), () => EndToEndBench.Metrics.ReadAsync(single.HealthPort, [single.Host], [single.Simulator]), concurrency).ConfigureAwait(false);
        }

        foreach ((string name, int members, string[] settings, int[] rows) in new[]
        {
            ("fleet of 1", 1, Array.Empty<string>(), concurrency),
            ("fleet of 5", 5, Array.Empty<string>(), concurrency),
            ("fleet of 5, no batching", 5, new[] { "--Hsm:MaxBatchOperations=1" }, new[] { concurrency.Max() }),
        })
        {
            await using ProcessFleet fleet = await ProcessFleet.StartAsync(members, hostSettings: settings).ConfigureAwait(false);
            int leader = await fleet.WaitForLeaderAsync().ConfigureAwait(false);
            await Rows(
                name,
                fleet.ClientOptions(leader, IdentityKsf.Instance),
                () => EndToEndBench.Metrics.ReadAsync(fleet.HealthPorts[leader], Enumerable.Range(0, members).Select(fleet.Host), Enumerable.Range(0, members).Select(fleet.Simulator)),
                rows).ConfigureAwait(false);
        }

        int top = concurrency.Max();
        var summary = new StringBuilder();
        foreach (((string name, int clients), double rate) in rates)
        {
            summary.Append(c, $"{name.Replace(' ', '_').Replace(",", "")}_c{clients}={rate:F0}/s ");
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(c, $"fleet: {summary}"));
        Console.WriteLine(string.Create(c,
            $"fleet: ratio 5-member fleet / single HSM at {top} clients = {rates[("fleet of 5", top)] / rates[("single HSM", top)]:F2}; / fleet of 1 = {rates[("fleet of 5", top)] / rates[("fleet of 1", top)]:F2}; batching on / off = {rates[("fleet of 5", top)] / rates[("fleet of 5, no batching", top)]:F2}"));
        if (failures > 0)
        {
            Console.Error.WriteLine($"fleet: {failures} recoveries did not return the registered key; the figures above are not valid");
            return 1;
        }

        return 0;
    }
}
