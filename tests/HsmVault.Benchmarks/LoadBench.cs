using System.Diagnostics;
using System.Globalization;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Testing;

namespace HsmVault.Benchmarks;

/// <summary>
/// Selector <c>load</c> (<c>build.ps1 load</c>, <c>build.ps1 soak</c>): a load generator against a
/// <see cref="ProcessFleet"/> of real processes. Options: <see cref="LoadOptions.Usage"/>.
/// </summary>
public static class LoadBench
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static int Run()
    {
        string[] all = Environment.GetCommandLineArgs();
        int at = Array.FindIndex(all, a => a.Equals("load", StringComparison.OrdinalIgnoreCase));
        return Run(all[(at + 1)..]);
    }

    public static int Run(string[] args)
    {
        LoadOptions? options = LoadOptions.Parse(args, out string? error);
        if (options is null)
        {
            Console.Error.WriteLine(error);
            return 2;
        }

        if (options.Help)
        {
            Console.WriteLine(LoadOptions.Usage);
            return 0;
        }

        return RunAsync(options).GetAwaiter().GetResult();
    }

    /// <summary>What one phase measured, for the summary and the ratios.</summary>
    internal sealed record Phase(string Name, long Successes, long Errors, double PerSecond, double P50, double P99, double P999, double CpuPerOp, bool Wrong);

    private static async Task<int> RunAsync(LoadOptions o)
    {
        string via = o.ViaLeader ? "every client on the leader's host" : "client i on host i mod N";
        Console.WriteLine(string.Create(C,
            $"load: mix {o.Mix}, {o.Clients} clients, fleet of {o.Fleet}, store {(o.Postgres ? "postgres" : "sqlite")}, {via}, {o.WarmUp} s warm-up then {o.Seconds} s measured{(o.Soak ? $", soak sampling every {o.SampleSeconds} s" : "")}, seed {o.Seed}"));
        Console.WriteLine($"load: {Environment.ProcessorCount} cores shared by every process; load average at start {ProcStat.LoadAverage()}");
        using PostgresCluster? cluster = o.Postgres ? PostgresCluster.Start() : null;
        using SoakSampler.Hook? hook = o.Soak ? SoakSampler.Hook.Install() : null;

        var phases = new List<Phase>();
        if (o.Reference)
        {
            phases.Add(await RunPhaseAsync(o, 1, cluster?.CreateDatabase("load_reference"), null).ConfigureAwait(false));
        }

        phases.Add(await RunPhaseAsync(o, o.Fleet, cluster?.CreateDatabase("load_measured"), hook).ConfigureAwait(false));
        Console.WriteLine($"load: load average at end {ProcStat.LoadAverage()}");
        foreach (Phase p in phases)
        {
            Console.WriteLine(string.Create(C,
                $"load: {p.Name} ok={p.Successes} errors={p.Errors} ok/s={p.PerSecond:F1} p50={p.P50:F1}ms p99={p.P99:F1}ms p999={p.P999:F1}ms cpu_ms_per_ok={p.CpuPerOp:F2}"));
        }

        if (phases.Count == 2)
        {
            (Phase r, Phase m) = (phases[0], phases[1]);
            Console.WriteLine(string.Create(C,
                $"load: ratio {m.Name} / {r.Name} at {o.Clients} clients: throughput {m.PerSecond / r.PerSecond:F2}, p50 {m.P50 / r.P50:F2}, p99 {m.P99 / r.P99:F2}, CPU per operation {m.CpuPerOp / r.CpuPerOp:F2}"));
        }

        if (phases.Any(p => p.Wrong))
        {
            Console.Error.WriteLine("load: a wrong answer was seen (see above); exit 1");
            return 1;
        }

        return 0;
    }

    private static async Task<Phase> RunPhaseAsync(LoadOptions o, int size, string? postgres, SoakSampler.Hook? hook)
    {
        string name = $"fleet of {size}";
        Console.WriteLine();
        Stopwatch started = Stopwatch.StartNew();
        await using ProcessFleet fleet = await ProcessFleet.StartAsync(size, postgres).ConfigureAwait(false);
        int leader = await fleet.WaitForLeaderAsync().ConfigureAwait(false);
        Console.WriteLine(string.Create(C, $"load: {name} serving after {started.Elapsed.TotalSeconds:F0} s (provisioning: {fleet.Provisioning}); member {leader} leads"));

        var processes = new List<(string Name, int Pid)> { ("client", Environment.ProcessId) };
        for (int i = 0; i < size; i++)
        {
            processes.Add(($"host-{i}", fleet.Host(i)!.Id));
            processes.Add(($"simulator-{i}", fleet.Simulator(i)!.Id));
        }

        var recorder = new LoadRecorder();
        using var stop = new CancellationTokenSource();
        Task work;
        Func<string?> verdict;
        if (o.Mix == "guess")
        {
            Task<BruteForceRun.Report> attack = Task.Run(() => BruteForceRun.RunAsync(
                fleet,
                new BruteForceRun.Options(o.Users, o.Clients, o.Seed, TimeSpan.FromSeconds(o.Seconds), (kind, ms) => recorder.Record(kind is "acknowledged" or "final" ? null : kind, ms))));
            recorder.Start();
            work = attack;
            verdict = () => Judge(attack.Result);
        }
        else
        {
            await EndToEndBench.RegisterAsync(fleet.ClientOptions(leader, IdentityKsf.Instance), o.Clients).ConfigureAwait(false);
            work = Task.WhenAll(Enumerable.Range(0, o.Clients).Select(i => Task.Run(() =>
                LoopAsync(fleet.ClientOptions(o.ViaLeader ? leader : i % size, IdentityKsf.Instance), new LoadWorkload(i, o.Seed), o.Mix, recorder, stop.Token))));
            await Task.WhenAny(work, Task.Delay(TimeSpan.FromSeconds(o.WarmUp))).ConfigureAwait(false);
            recorder.Start();
            verdict = () => null;
        }

        Dictionary<string, TimeSpan?> before = processes.ToDictionary(p => p.Name, p => ProcStat.CpuTime(p.Pid));
        SoakSampler? sampler = hook is null ? null : new SoakSampler(hook, processes, recorder, o.SampleSeconds, o.Csv);
        Stopwatch measured = Stopwatch.StartNew();
        int every = o.Soak ? o.SampleSeconds : 1;
        long nextLine = every;
        while (measured.Elapsed.TotalSeconds < o.Seconds && !work.IsCompleted)
        {
            await Task.WhenAny(work, Task.Delay(200)).ConfigureAwait(false);
            sampler?.SampleIfDue(measured.Elapsed);
            if (measured.Elapsed.TotalSeconds >= nextLine)
            {
                (int n, double p50, double p99, IReadOnlyDictionary<string, long> errors) = recorder.TakeWindow();
                Progress(string.Create(C,
                    $"[{measured.Elapsed.TotalSeconds,5:F0} s] {n / (double)every,7:F1} ok/s  p50 {p50,7:F1} ms  p99 {p99,7:F1} ms  errors: {LoadRecorder.Describe(errors)}"));
                nextLine += every;
            }
        }

        recorder.Stop();
        TimeSpan elapsed = measured.Elapsed;
        Dictionary<string, TimeSpan?> after = processes.ToDictionary(p => p.Name, p => ProcStat.CpuTime(p.Pid));
        await stop.CancelAsync().ConfigureAwait(false);
        await work.ConfigureAwait(false);
        if (work is Task<BruteForceRun.Report> finished)
        {
            // The guesses' own time, not the registrations before them or the checks after.
            elapsed = finished.Result.Elapsed;
        }

        EndProgress();
        sampler?.Finish(elapsed);

        (double[] sorted, IReadOnlyDictionary<string, long> errorTypes) = recorder.Totals();
        long ok = sorted.Length;
        double cpuTotal = 0;
        var perProcess = new List<string>();
        var groups = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach ((string process, _) in processes)
        {
            if (before[process] is not { } b || after[process] is not { } a)
            {
                perProcess.Add($"{process} (exited)");
                continue;
            }

            double ms = (a - b).TotalMilliseconds / Math.Max(1, ok);
            cpuTotal += ms;
            string group = process.Split('-')[0];
            groups[group] = groups.GetValueOrDefault(group) + ms;
            perProcess.Add(string.Create(C, $"{process} {ms:F2}"));
        }

        bool wrong = errorTypes.ContainsKey(LoadWorkload.WrongKey);
        string? attackVerdict = verdict();
        Console.WriteLine(string.Create(C, $"load summary, {name} ({o.Mix}, {o.Clients} clients, {elapsed.TotalSeconds:F1} s measured):"));
        Console.WriteLine(string.Create(C, $"  throughput: {ok} ok operations, {ok / elapsed.TotalSeconds:F1}/s; {errorTypes.Values.Sum()} errors"));
        Console.WriteLine(string.Create(C,
            $"  latency of ok operations: p50 {LoadRecorder.Percentile(sorted, 0.5):F1} ms, p99 {LoadRecorder.Percentile(sorted, 0.99):F1} ms, p999 {LoadRecorder.Percentile(sorted, 0.999):F1} ms, max {(ok == 0 ? double.NaN : sorted[^1]):F1} ms"));
        Console.WriteLine($"  errors by type: {LoadRecorder.Describe(errorTypes)}");
        Console.WriteLine($"  CPU ms per ok operation, per process: {string.Join(", ", perProcess)}");
        Console.WriteLine(string.Create(C,
            $"  CPU ms per ok operation, by kind: {string.Join(", ", groups.Select(g => $"{g.Key}s {g.Value:F2}"))}; total {cpuTotal:F2} (the client is this load generator)"));
        Console.WriteLine($"  store: {StoreAudit.Check(fleet.StoreLocation, fleet.StoreIsPostgres)}{(fleet.StoreIsPostgres ? "" : string.Create(C, $", {ScaleBench.SqliteStoreBytes(fleet.StoreLocation) / (1024 * 1024):F1} MB on disk with its WAL"))}");
        if (attackVerdict is not null)
        {
            Console.WriteLine(attackVerdict);
            wrong |= attackVerdict.Contains("VIOLATION", StringComparison.Ordinal);
        }

        return new Phase(name, ok, errorTypes.Values.Sum(), ok / elapsed.TotalSeconds, LoadRecorder.Percentile(sorted, 0.5), LoadRecorder.Percentile(sorted, 0.99), LoadRecorder.Percentile(sorted, 0.999), cpuTotal, wrong);
    }

    private static async Task LoopAsync(VaultClientOptions options, LoadWorkload workload, string mix, LoadRecorder recorder, CancellationToken stop)
    {
        VaultClient client = new(options);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                long start = Stopwatch.GetTimestamp();
                string? error;
                try
                {
                    error = await workload.NextAsync(client, mix).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    error = ex.GetType().Name;
                }

                recorder.Record(error, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                if (error is not null && error != LoadWorkload.WrongKey)
                {
                    if (error == "KeyRecovered")
                    {
                        Console.Error.WriteLine($"load: {workload.User}: a wrong password recovered a key");
                    }

                    // An error may leave the connection broken: the next operation gets a new one.
                    await client.DisposeAsync().ConfigureAwait(false);
                    client = new VaultClient(options);
                    await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
                }
                else if (error == LoadWorkload.WrongKey)
                {
                    Console.Error.WriteLine($"load: {workload.User}: a recovery returned a key that is not the user's");
                }
            }
        }
        finally
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static string Judge(BruteForceRun.Report report)
    {
        var lines = new List<string> { "  " + report.Summary };
        lines.Add("  | user | budget | sent | acknowledged | final | ambiguous | counted | destroyed |");
        lines.Add("  |---|---:|---:|---:|---:|---:|---:|---|");
        lines.AddRange(report.Users.Select(u => string.Create(C,
            $"  | {u.User} | {u.Budget} | {u.Sent} | {u.Acknowledged} | {u.Final} | {u.Ambiguous} | {u.Counted} | {(u.Destroyed ? "yes" : "no")} |")));
        lines.AddRange(report.Violations.Select(v => "  VIOLATION " + v));
        lines.Add(report.Violations.Count == 0
            ? "  brute force: every count matches (acknowledged <= counted <= acknowledged + ambiguous), no record past the limit, every destroyed record refuses the right password"
            : $"  brute force: {report.Violations.Count} VIOLATIONS");
        return string.Join('\n', lines);
    }

    private static void Progress(string line)
    {
        if (Console.IsOutputRedirected)
        {
            Console.WriteLine(line);
        }
        else
        {
            Console.Write("\r" + line + "\u001b[K");
        }
    }

    private static void EndProgress()
    {
        if (!Console.IsOutputRedirected)
        {
            Console.WriteLine();
        }
    }
}
