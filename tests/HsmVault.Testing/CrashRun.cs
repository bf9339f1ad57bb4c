using System.Diagnostics;
using System.Globalization;
using System.Text;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;

namespace HsmVault.Testing;

/// <summary>
/// The crash-consistency run (<c>build.ps1 crash</c>; a bounded version in CI). A five-member process
/// fleet serves registrations, recoveries and wrong guesses from a seeded random client while hosts
/// and simulators die: SIGKILL from outside at random moments, and SIGKILL from inside at the hosts'
/// crash points (after the HSM applied a batch, in the middle of the store's transaction, after the
/// store commit, after the HSM released the answers). At most two members are down at once. After
/// every round everything is restarted and the run checks, for every user whose registration a
/// client saw succeed: the record is there and recovers the right key; and no guess a client saw
/// counted was lost (the attempts left are at most the limit minus the acknowledged wrong guesses
/// since the last acknowledged reset, unless an unacknowledged recovery may have reset it).
/// The seed is printed; the same seed replays the same operations, kills and crash-point draws.
/// </summary>
public sealed class CrashRun
{
    private const uint AttemptLimit = 10;

    private readonly Random _random;
    private readonly Options _options;
    private readonly List<Model> _users = [];
    private readonly List<string> _violations = [];
    private readonly int[] _downSince;
    private int _operations;
    private int _acknowledged;
    private int _hostKills;
    private int _simulatorKills;
    private int _selfCrashes;

    private CrashRun(Options options)
    {
        _options = options;
        _random = new Random(options.Seed);
        _downSince = new int[5];
        Array.Fill(_downSince, -1);
    }

    /// <summary>How long, and what against.</summary>
    public sealed record Options(int Rounds, int Seed, int OperationsPerRound = 40, double KillProbability = 0.06, double CrashPointProbability = 0.01, string? Postgres = null, TextWriter? Log = null);

    /// <summary>What happened; <see cref="Violations"/> is empty when every check held.</summary>
    public sealed record Report(int Seed, int Rounds, int Operations, int Acknowledged, int HostKills, int SimulatorKills, int SelfCrashes, int Users, IReadOnlyList<string> Violations, TimeSpan Elapsed)
    {
        public string Summary => string.Create(CultureInfo.InvariantCulture,
            $"crash: seed {Seed}, {Rounds} rounds, {Operations} operations ({Acknowledged} acknowledged), {HostKills} host and {SimulatorKills} simulator SIGKILLs from outside, {SelfCrashes} crash-point self-kills, {Users} users checked, {Violations.Count} violations, {Elapsed.TotalSeconds:F0} s");
    }

    public static async Task<Report> RunAsync(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var run = new CrashRun(options);
        Stopwatch elapsed = Stopwatch.StartNew();
        string points = string.Join(',', new[] { "after-batch", "mid-store", "after-store", "after-commit" }.Select(p => $"{p}={options.CrashPointProbability.ToString(CultureInfo.InvariantCulture)}"));
        await using ProcessFleet fleet = await ProcessFleet.StartAsync(
            5,
            options.Postgres,
            [$"--Fleet:AttemptLimit={AttemptLimit}"],
            // No crash points in a host's first start (the fleet's formation is a one-time ceremony); each
            // later start draws from its own stream of the run's seed, so a restart does not repeat its crash.
            (member, starts) => starts == 0 ? null : new Dictionary<string, string>
            {
                ["HSMVAULT_CRASH_POINTS"] = points,
                ["HSMVAULT_CRASH_SEED"] = unchecked(options.Seed + (member * 7919) + (starts * 104729)).ToString(CultureInfo.InvariantCulture),
            }).ConfigureAwait(false);
        run.Log($"crash: seed {options.Seed}; five members, crash points {points}");

        // Formed: now every host restarts once, with its crash points armed.
        for (int m = 0; m < 5; m++)
        {
            await fleet.KillHostAsync(m).ConfigureAwait(false);
            await run.RestartAsync(fleet, m).ConfigureAwait(false);
        }

        await fleet.WaitForLeaderAsync().ConfigureAwait(false);

        for (int round = 1; round <= options.Rounds; round++)
        {
            for (int op = 0; op < options.OperationsPerRound; op++)
            {
                await run.MaybeKillOrRestartAsync(fleet).ConfigureAwait(false);
                await run.OperateAsync(fleet).ConfigureAwait(false);
            }

            await run.RestartEverythingAsync(fleet).ConfigureAwait(false);
            await run.VerifyAsync(fleet, round).ConfigureAwait(false);
            run.Log($"crash: round {round}: {run._operations} operations so far, {run._users.Count(u => u.Registered)} users, {run._violations.Count} violations");
        }

        return new Report(options.Seed, options.Rounds, run._operations, run._acknowledged, run._hostKills, run._simulatorKills, run._selfCrashes, run._users.Count(u => u.Registered), run._violations, elapsed.Elapsed);
    }

    private void Log(string line) => _options.Log?.WriteLine(line);

    private int Down => Enumerable.Range(0, 5).Count(m => _downSince[m] >= 0);

    private async Task MaybeKillOrRestartAsync(ProcessFleet fleet)
    {
        // A host that hit a crash point is down too: count it, and bring it back like the others.
        for (int m = 0; m < 5; m++)
        {
            if (_downSince[m] < 0 && (!fleet.HostRunning(m) || !fleet.SimulatorRunning(m)))
            {
                _selfCrashes++;
                _downSince[m] = _operations;
            }
        }

        for (int m = 0; m < 5; m++)
        {
            if (_downSince[m] >= 0 && _operations - _downSince[m] >= 3 + _random.Next(5))
            {
                await RestartAsync(fleet, m).ConfigureAwait(false);
            }
        }

        if (Down < 2 && _random.NextDouble() < _options.KillProbability)
        {
            int[] up = [.. Enumerable.Range(0, 5).Where(m => _downSince[m] < 0)];
            int member = up[_random.Next(up.Length)];
            if (_random.Next(2) == 0)
            {
                await fleet.KillHostAsync(member).ConfigureAwait(false);
                _hostKills++;
                Log($"crash: op {_operations}: SIGKILL host {member}");
            }
            else
            {
                await fleet.KillSimulatorAsync(member).ConfigureAwait(false);
                _simulatorKills++;
                Log($"crash: op {_operations}: SIGKILL simulator {member}");
            }

            _downSince[member] = _operations;
        }
    }

    private async Task RestartAsync(ProcessFleet fleet, int member)
    {
        if (!fleet.SimulatorRunning(member))
        {
            await fleet.StartSimulatorAsync(member).ConfigureAwait(false);
        }

        if (!fleet.HostRunning(member))
        {
            // Not waiting for it to serve: with crash points, more members than two may be down at
            // once, and this one may need another back first.
            fleet.LaunchHost(member);
        }

        _downSince[member] = -1;
    }

    private async Task RestartEverythingAsync(ProcessFleet fleet)
    {
        for (int m = 0; m < 5; m++)
        {
            if (!fleet.SimulatorRunning(m) || !fleet.HostRunning(m))
            {
                await RestartAsync(fleet, m).ConfigureAwait(false);
            }
        }
    }

    private async Task OperateAsync(ProcessFleet fleet)
    {
        int acknowledged = _acknowledged;
        await OperateOnceAsync(fleet).ConfigureAwait(false);
        if (_acknowledged == acknowledged)
        {
            // Unavailable: a leader change or a restart is under way; give it a moment, as a client would.
            await Task.Delay(500).ConfigureAwait(false);
        }
    }

    private async Task OperateOnceAsync(ProcessFleet fleet)
    {
        int[] up = [.. Enumerable.Range(0, 5).Where(fleet.HostRunning)];
        if (up.Length == 0)
        {
            await Task.Delay(200).ConfigureAwait(false);
            return;
        }

        int via = up[_random.Next(up.Length)];
        List<Model> registered = [.. _users.Where(u => u.Registered)];
        double pick = _random.NextDouble();
        _operations++;
        await using VaultClient client = new(fleet.ClientOptions(via, IdentityKsf.Instance) with { RequestTimeout = TimeSpan.FromSeconds(10) });
        if (registered.Count == 0 || pick < 0.25)
        {
            Model user = _users.FirstOrDefault(u => !u.Registered && !u.Maybe) ?? NewUser();
            VaultOutcome outcome = await client.RegisterAsync(user.Name, user.Password, user.Key).ConfigureAwait(false);
            if (outcome is UserRegistered)
            {
                _acknowledged++;
                user.Registered = true;
                user.Maybe = false;
                user.WrongSince = 0;
                user.MayHaveReset = false;
            }
            else
            {
                // Unknown: it may have committed. Never reused, never checked, but a recovery must never give a wrong key.
                user.Maybe = true;
            }

            return;
        }

        Model target = registered[_random.Next(registered.Count)];
        if (pick < 0.65 || target.WrongSince + target.UnknownGuesses >= AttemptLimit - 2)
        {
            VaultOutcome outcome = await client.RecoverAsync(target.Name, target.Password).ConfigureAwait(false);
            switch (outcome)
            {
                case KeyRecovered recovered:
                    _acknowledged++;
                    if (!recovered.Key.AsSpan().SequenceEqual(target.Key))
                    {
                        _violations.Add($"op {_operations}: {target.Name} recovered a wrong key");
                    }

                    recovered.Dispose();
                    target.WrongSince = 0;
                    target.UnknownGuesses = 0;
                    target.MayHaveReset = false;
                    break;
                case Unavailable or Conflict:
                    target.MayHaveReset = true;
                    break;
                default:
                    _violations.Add($"op {_operations}: {target.Name} with the right password via host {via}: {outcome.Describe()}");
                    break;
            }

            return;
        }

        VaultOutcome guess = await client.RecoverAsync(target.Name, Encoding.UTF8.GetBytes("wrong guess " + _operations.ToString(CultureInfo.InvariantCulture))).ConfigureAwait(false);
        switch (guess)
        {
            case WrongPassword:
                _acknowledged++;
                target.WrongSince++;
                break;
            case Unavailable or Conflict:
                // Maybe counted, maybe not: only ever fewer attempts left than the model says, which the check allows.
                target.UnknownGuesses++;
                break;
            default:
                _violations.Add($"op {_operations}: {target.Name} with a wrong password via host {via}: {guess.Describe()}");
                break;
        }
    }

    private async Task VerifyAsync(ProcessFleet fleet, int round)
    {
        await fleet.WaitForLeaderAsync().ConfigureAwait(false);
        foreach (Model user in _users.Where(u => u.Registered))
        {
            VaultOutcome status = await RetryAsync(fleet, client => client.StatusAsync(user.Name)).ConfigureAwait(false);
            if (status is not StatusReported reported)
            {
                _violations.Add($"round {round}: {user.Name} (registration acknowledged): status {status.Describe()}");
                continue;
            }

            if (!user.MayHaveReset && reported.AttemptsLeft > AttemptLimit - user.WrongSince)
            {
                _violations.Add($"round {round}: {user.Name}: {reported.AttemptsLeft} attempts left after {user.WrongSince} acknowledged wrong guesses (limit {AttemptLimit}): a counted guess was lost");
            }

            VaultOutcome recovered = await RetryAsync(fleet, client => client.RecoverAsync(user.Name, user.Password)).ConfigureAwait(false);
            if (recovered is not KeyRecovered key || !key.Key.AsSpan().SequenceEqual(user.Key))
            {
                _violations.Add($"round {round}: {user.Name} (registration acknowledged) does not recover its key: {recovered.Describe()}");
            }

            (recovered as IDisposable)?.Dispose();
            user.WrongSince = 0;
            user.UnknownGuesses = 0;
            user.MayHaveReset = false;
        }

        // Nothing half-written: the store, read straight from its tables, is one whole commit.
        StoreAudit.Result audit = StoreAudit.Check(fleet.StoreLocation, fleet.StoreIsPostgres);
        Log($"crash: round {round}: store: {audit}");
        _violations.AddRange(audit.Problems.Select(problem => $"round {round}: store: {problem}"));
    }

    // The crash points stay armed while the run checks: a host may die under the check too. Bring
    // back whatever is down and ask again, through another host, until the answer is not UNAVAILABLE.
    private async Task<VaultOutcome> RetryAsync(ProcessFleet fleet, Func<VaultClient, Task<VaultOutcome>> operation)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(90);
        for (int attempt = 0; ; attempt++)
        {
            await RestartEverythingAsync(fleet).ConfigureAwait(false);
            int via = attempt % 5;
            await using VaultClient client = new(fleet.ClientOptions(via, IdentityKsf.Instance) with { RequestTimeout = TimeSpan.FromSeconds(10) });
            VaultOutcome outcome = await operation(client).ConfigureAwait(false);
            if (outcome is not (Unavailable or Conflict) || DateTime.UtcNow > deadline)
            {
                return outcome;
            }

            await Task.Delay(200).ConfigureAwait(false);
        }
    }

    private Model NewUser()
    {
        int n = _users.Count;
        byte[] key = new byte[VaultClient.BackupKeyBytes];
        _random.NextBytes(key);
        var user = new Model($"crash-user-{n}", Encoding.UTF8.GetBytes($"password {n}"), key);
        _users.Add(user);
        return user;
    }

    private sealed class Model(string name, byte[] password, byte[] key)
    {
        public string Name { get; } = name;

        public byte[] Password { get; } = password;

        public byte[] Key { get; } = key;

        public bool Registered { get; set; }

        public bool Maybe { get; set; }

        public uint WrongSince { get; set; }

        public bool MayHaveReset { get; set; }

        /// <summary>Wrong guesses whose answer was lost: each may or may not have been counted.</summary>
        public uint UnknownGuesses { get; set; }
    }
}
