using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;

namespace HsmVault.Testing;

/// <summary>
/// Brute force under load against a <see cref="ProcessFleet"/>: many users registered, then many
/// concurrent guessers sending random wrong passwords for all of them at once (a seeded, shuffled
/// list of guesses, several guessers on the same user at the same moment). Each guess is tallied by
/// what its client was told: <b>acknowledged</b> (<see cref="WrongPassword"/>: the vault counted it
/// and the record lives), <b>final</b> (no live record after the guess: it was the last allowed one,
/// or the record was already gone), or <b>ambiguous</b> (the answer was lost: <see cref="Unavailable"/>,
/// a timeout, anything else; the guess may or may not have been counted). Afterwards every user's
/// status is read and checked: acknowledged ≤ counted ≤ acknowledged + ambiguous for a live record
/// (counted = limit − attempts left), no acknowledged count beyond the limit, every record that
/// reached the limit gone and refusing the right password, and every other record still recovering
/// its key with the right password.
/// </summary>
public static class BruteForceRun
{
    /// <param name="Users">How many users are attacked (their guess budgets alternate below and above the limit).</param>
    /// <param name="Guessers">How many concurrent clients send guesses, spread over every host.</param>
    /// <param name="Seed">Draws the budgets and the order of the guesses.</param>
    /// <param name="TimeLimit">No guess is started after this much time (the rest count as not sent).</param>
    /// <param name="Observe">Called after each guess with its kind ("acknowledged", "final" or an ambiguous type) and its latency.</param>
    public sealed record Options(int Users, int Guessers, int Seed, TimeSpan TimeLimit, Action<string, double>? Observe = null);

    /// <summary>One user's tally; <see cref="Counted"/> is what the vault's status says afterwards.</summary>
    public sealed record UserTally(string User, int Budget, int Sent, int Acknowledged, int Final, int Ambiguous, int Counted, bool Destroyed);

    public sealed record Report(int AttemptLimit, IReadOnlyList<UserTally> Users, IReadOnlyDictionary<string, int> AmbiguousByType, IReadOnlyList<string> Violations, TimeSpan Elapsed)
    {
        public int Sent => Users.Sum(u => u.Sent);

        public int Acknowledged => Users.Sum(u => u.Acknowledged);

        public int Final => Users.Sum(u => u.Final);

        public int Ambiguous => Users.Sum(u => u.Ambiguous);

        public int Counted => Users.Sum(u => u.Counted);

        public int Destroyed => Users.Count(u => u.Destroyed);

        public string Summary => string.Create(CultureInfo.InvariantCulture,
            $"brute force: {Users.Count} users, attempt limit {AttemptLimit}, {Sent} guesses sent in {Elapsed.TotalSeconds:F1} s: {Acknowledged} acknowledged as counted, {Final} answered 'no live record', {Ambiguous} ambiguous{(AmbiguousByType.Count == 0 ? "" : " (" + string.Join(", ", AmbiguousByType.Select(p => $"{p.Key}={p.Value}")) + ")")}; the vault counted {Counted}; {Destroyed} records destroyed at the limit; {Violations.Count} violations");
    }

    /// <summary>The kind of an outcome for error tallies: the client's result type (exceptions are caught by the caller).</summary>
    public static string Kind(VaultOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        return outcome switch
        {
            // The host's detail names the cause (UNAVAILABLE, BUSY, INTERNAL, a timeout); only its first words.
            Unavailable u => "Unavailable(" + FirstWords(u.Detail) + ")",
            _ => outcome.GetType().Name,
        };
    }

    public static async Task<Report> RunAsync(ProcessFleet fleet, Options options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fleet);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Users < 1 || options.Guessers < 1)
        {
            throw new ArgumentException("Users and Guessers must be at least 1", nameof(options));
        }

        var random = new Random(options.Seed);
        string[] names = [.. Enumerable.Range(0, options.Users).Select(i => "bf-user-" + i.ToString(CultureInfo.InvariantCulture))];
        byte[][] passwords = [.. names.Select(_ => Encoding.UTF8.GetBytes(Convert.ToHexString(RandomNumberGenerator.GetBytes(16))))];
        byte[][] keys = [.. names.Select(_ => RandomNumberGenerator.GetBytes(VaultClient.BackupKeyBytes))];
        var violations = new ConcurrentQueue<string>();

        await using (VaultClient setup = new(fleet.ClientOptions(0, IdentityKsf.Instance)))
        {
            for (int i = 0; i < names.Length; i++)
            {
                VaultOutcome registered = await SettleAsync(() => setup.RegisterAsync(names[i], passwords[i], keys[i], cancellationToken)).ConfigureAwait(false);
                if (registered is not UserRegistered)
                {
                    throw new InvalidOperationException($"registering {names[i]}: {registered.Describe()}");
                }
            }
        }

        int limit = await AttemptLimitAsync(fleet, names[0], cancellationToken).ConfigureAwait(false);

        // Even users get fewer guesses than the limit (they must stay live with exactly that count),
        // odd users more (they must be destroyed at exactly the limit).
        int[] budgets = [.. names.Select((_, i) => i % 2 == 0 ? random.Next(1, limit) : random.Next(limit + 1, 2 * limit + 1))];
        int[] tickets = [.. budgets.SelectMany((budget, user) => Enumerable.Repeat(user, budget))];
        random.Shuffle(tickets);
        var queue = new ConcurrentQueue<int>(tickets);

        int[] sent = new int[names.Length];
        int[] acknowledged = new int[names.Length];
        int[] final = new int[names.Length];
        int[] ambiguous = new int[names.Length];
        var ambiguousTypes = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var gone = new ConcurrentDictionary<int, bool>();
        Stopwatch clock = Stopwatch.StartNew();

        async Task GuessAsync(int guesser)
        {
            await using VaultClient client = new(fleet.ClientOptions(guesser % fleet.Size, IdentityKsf.Instance));
            while (clock.Elapsed < options.TimeLimit && queue.TryDequeue(out int user))
            {
                // An attacker stops guessing at a user once the vault says the record is gone.
                if (gone.ContainsKey(user))
                {
                    continue;
                }

                Interlocked.Increment(ref sent[user]);
                byte[] wrong = Encoding.UTF8.GetBytes("wrong-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12)));
                long start = Stopwatch.GetTimestamp();
                string kind;
                try
                {
                    VaultOutcome outcome = await client.RecoverAsync(names[user], wrong, cancellationToken).ConfigureAwait(false);
                    kind = Tally(outcome, user, limit, acknowledged, final, gone, violations, names);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    kind = ex.GetType().Name;
                }

                if (kind is not ("acknowledged" or "final"))
                {
                    Interlocked.Increment(ref ambiguous[user]);
                    ambiguousTypes.AddOrUpdate(kind, 1, (_, n) => n + 1);
                }

                options.Observe?.Invoke(kind, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, options.Guessers).Select(g => Task.Run(() => GuessAsync(g), cancellationToken))).ConfigureAwait(false);
        TimeSpan elapsed = clock.Elapsed;
        bool allSent = queue.IsEmpty;

        var users = new List<UserTally>();
        await using (VaultClient check = new(fleet.ClientOptions(0, IdentityKsf.Instance)))
        {
            for (int i = 0; i < names.Length; i++)
            {
                VaultOutcome status = await SettleAsync(() => check.StatusAsync(names[i], cancellationToken)).ConfigureAwait(false);
                bool destroyed;
                int counted;
                switch (status)
                {
                    case StatusReported reported:
                        destroyed = false;
                        counted = limit - (int)reported.AttemptsLeft;
                        break;
                    case NoRecord:
                        destroyed = true;
                        counted = limit;
                        break;
                    default:
                        violations.Enqueue($"{names[i]}: the status after the attack is not answered: {status.Describe()}");
                        continue;
                }

                var tally = new UserTally(names[i], budgets[i], sent[i], acknowledged[i], final[i], ambiguous[i], counted, destroyed);
                users.Add(tally);
                Check(tally, limit, allSent, violations);
                await CheckRightPasswordAsync(check, tally, passwords[i], keys[i], violations, cancellationToken).ConfigureAwait(false);
            }
        }

        return new Report(limit, users, new Dictionary<string, int>(ambiguousTypes, StringComparer.Ordinal), [.. violations], elapsed);
    }

    private static string Tally(VaultOutcome outcome, int user, int limit, int[] acknowledged, int[] final, ConcurrentDictionary<int, bool> gone, ConcurrentQueue<string> violations, string[] names)
    {
        switch (outcome)
        {
            case WrongPassword wrong:
                Interlocked.Increment(ref acknowledged[user]);
                if (wrong.AttemptsLeft < 1 || wrong.AttemptsLeft >= limit)
                {
                    violations.Enqueue($"{names[user]}: a counted wrong guess reports {wrong.AttemptsLeft} attempts left (limit {limit})");
                }

                return "acknowledged";
            case NoRecord:
                Interlocked.Increment(ref final[user]);
                gone[user] = true;
                return "final";
            case KeyRecovered recovered:
                recovered.Dispose();
                violations.Enqueue($"{names[user]}: a wrong password recovered a key");
                return "KeyRecovered";
            default:
                return Kind(outcome);
        }
    }

    private static void Check(UserTally u, int limit, bool allSent, ConcurrentQueue<string> violations)
    {
        string at = $"{u.User} (budget {u.Budget}, sent {u.Sent}, acknowledged {u.Acknowledged}, final {u.Final}, ambiguous {u.Ambiguous}, counted {u.Counted})";
        if (u.Acknowledged > limit - 1)
        {
            violations.Enqueue($"{at}: more guesses acknowledged as counted with attempts left than the limit {limit} allows");
        }

        if (u.Counted < u.Acknowledged)
        {
            violations.Enqueue($"{at}: the vault counted fewer guesses than clients saw acknowledged");
        }

        if (!u.Destroyed)
        {
            // A live record: every counted guess was answered to someone, or its answer was lost.
            if (u.Final > 0)
            {
                violations.Enqueue($"{at}: a guess was told 'no live record' but the record is live");
            }

            if (u.Counted > u.Acknowledged + u.Ambiguous)
            {
                violations.Enqueue($"{at}: the vault counted guesses no client was told of");
            }

            if (allSent && u.Ambiguous == 0 && u.Sent >= limit)
            {
                violations.Enqueue($"{at}: {u.Sent} guesses were answered, at least the limit {limit}, and the record still lives");
            }
        }
        else if (u.Counted > u.Acknowledged + u.Final + u.Ambiguous)
        {
            violations.Enqueue($"{at}: destroyed, but fewer guesses were answered or lost than the limit {limit}");
        }
        else if (u.Ambiguous == 0 && u.Final == 0)
        {
            violations.Enqueue($"{at}: destroyed, but no client was told of the guess that destroyed it");
        }
    }

    // A destroyed record must refuse the right password too; a live one must still give its key.
    private static async Task CheckRightPasswordAsync(VaultClient client, UserTally u, byte[] password, byte[] key, ConcurrentQueue<string> violations, CancellationToken cancellationToken)
    {
        VaultOutcome outcome = await SettleAsync(() => client.RecoverAsync(u.User, password, cancellationToken)).ConfigureAwait(false);
        switch (outcome)
        {
            case KeyRecovered recovered when u.Destroyed:
                recovered.Dispose();
                violations.Enqueue($"{u.User}: destroyed at the limit, yet the right password recovered a key");
                break;
            case KeyRecovered recovered:
                if (!recovered.Key.AsSpan().SequenceEqual(key))
                {
                    violations.Enqueue($"{u.User}: the right password recovered a wrong key");
                }

                recovered.Dispose();
                break;
            case NoRecord when u.Destroyed:
                break;
            default:
                violations.Enqueue($"{u.User} ({(u.Destroyed ? "destroyed" : "live")}): the right password got {outcome.Describe()}");
                break;
        }
    }

    private static async Task<int> AttemptLimitAsync(ProcessFleet fleet, string user, CancellationToken cancellationToken)
    {
        await using VaultClient client = new(fleet.ClientOptions(0, IdentityKsf.Instance));
        VaultOutcome status = await SettleAsync(() => client.StatusAsync(user, cancellationToken)).ConfigureAwait(false);
        return status is StatusReported { AttemptsLeft: var left, AttemptLimit: var limit } && left == limit && limit >= 2
            ? (int)limit
            : throw new InvalidOperationException($"a fresh record's status: {status.Describe()}");
    }

    // Set-up and checks (not the attack) wait out a moment of UNAVAILABLE, as any client would.
    private static async Task<VaultOutcome> SettleAsync(Func<Task<VaultOutcome>> operation)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            VaultOutcome outcome = await operation().ConfigureAwait(false);
            if (outcome is not (Unavailable or Conflict) || DateTime.UtcNow > deadline)
            {
                return outcome;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    private static string FirstWords(string detail)
    {
        int colon = detail.IndexOf(':', StringComparison.Ordinal);
        string head = colon > 0 ? detail[..colon] : detail;
        return head.Length > 40 ? head[..40] : head;
    }
}
