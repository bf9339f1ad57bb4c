using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Testing;

namespace HsmVault.Integration.Tests;

/// <summary>
/// The replicated fleet as real processes: five simulators on five SoftHSM2 tokens and five hosts
/// sharing one store (SQLite, then PostgreSQL). HSMs and hosts are killed with SIGKILL while clients
/// recover; every answer a client gets must be right, nothing committed may be lost, a majority down
/// must refuse, and the service must return with it.
/// </summary>
[TestClass]
public sealed class ProcessFleetTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task Sqlite_kill_two_of_five_hsms_mid_load_then_a_third_then_bring_them_back()
    {
        await using ProcessFleet fleet = await ProcessFleet.StartAsync(5);
        await KillAMinorityThenAMajorityAsync(fleet);
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task Sqlite_kill_the_leaders_hsm_then_the_next_leaders_host_and_no_client_gets_a_wrong_answer()
    {
        await using ProcessFleet fleet = await ProcessFleet.StartAsync(5);
        await KillLeadersAsync(fleet);
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task Postgres_kill_two_hsms_mid_load_bring_them_back_then_kill_the_leader_and_nothing_committed_is_lost()
    {
        using PostgresCluster cluster = PostgresCluster.Start();
        string store = cluster.CreateDatabase("fleet");
        await using ProcessFleet fleet = await ProcessFleet.StartAsync(5, store);
        Dictionary<string, byte[]> users = await RegisterAsync(fleet, 4);
        int leader = await fleet.WaitForLeaderAsync();
        int[] others = [.. Enumerable.Range(0, 5).Where(i => i != leader)];

        await using (Load load = Load.Start(fleet, users))
        {
            await Task.Delay(1500);
            await fleet.KillSimulatorAsync(others[0]);
            await fleet.KillSimulatorAsync(others[1]);
            long atKill = load.Successes;
            await load.WaitForMoreThanAsync(atKill + 4, Patience);
        }

        // The two come back and catch up from the store; then the leader's HSM dies: three of five remain.
        await fleet.StartSimulatorAsync(others[0]);
        await fleet.StartSimulatorAsync(others[1]);
        await ExpectEveryUserAsync(fleet, users, others[0]);
        await fleet.KillSimulatorAsync(leader);
        int next = await fleet.WaitForLeaderAsync(leader);
        Assert.AreNotEqual(leader, next);
        await ExpectEveryUserAsync(fleet, users, leader);
    }

    private static async Task KillAMinorityThenAMajorityAsync(ProcessFleet fleet)
    {
        Dictionary<string, byte[]> users = await RegisterAsync(fleet, 6);
        int leader = await fleet.WaitForLeaderAsync();
        int[] others = [.. Enumerable.Range(0, 5).Where(i => i != leader)];

        await using (Load load = Load.Start(fleet, users))
        {
            await Task.Delay(1500);
            await fleet.KillSimulatorAsync(others[0]);
            await fleet.KillSimulatorAsync(others[1]);
            long atKill = load.Successes;

            // Three of five HSMs still answer: recoveries go on.
            await load.WaitForMoreThanAsync(atKill + 6, Patience);
        }

        await ExpectEveryUserAsync(fleet, users, others[3]);

        // A third HSM down: no majority, nothing can commit, the fleet refuses.
        await fleet.KillSimulatorAsync(others[2]);
        await using (VaultClient client = new(fleet.ClientOptions(leader, IdentityKsf.Instance) with { RequestTimeout = TimeSpan.FromSeconds(10) }))
        {
            DateTime deadline = DateTime.UtcNow + Patience;
            VaultOutcome outcome;
            do
            {
                outcome = await client.StatusAsync(users.Keys.First());
            }
            while (outcome is not Unavailable && DateTime.UtcNow < deadline);

            Assert.IsInstanceOfType<Unavailable>(outcome, outcome.Describe());
        }

        // They come back (NVRAM kept on their tokens, RAM lost): the fleet serves again, with everything.
        foreach (int member in others[..3])
        {
            await fleet.StartSimulatorAsync(member);
        }

        await ExpectEveryUserAsync(fleet, users, others[0]);
    }

    private static async Task KillLeadersAsync(ProcessFleet fleet)
    {
        Dictionary<string, byte[]> users = await RegisterAsync(fleet, 4);
        int first = await fleet.WaitForLeaderAsync();

        await using (Load load = Load.Start(fleet, users))
        {
            await Task.Delay(1500);
            await fleet.KillSimulatorAsync(first);
            int second = await fleet.WaitForLeaderAsync(first);
            long atChange = load.Successes;
            await load.WaitForMoreThanAsync(atChange + 4, Patience);

            // Now the new leader's host dies (the HSM stays up): its lease lapses and a third member leads.
            await fleet.KillHostAsync(second);
            int third = await fleet.WaitForLeaderAsync(second);
            Assert.AreNotEqual(first, third);
            await load.WaitForMoreThanAsync(load.Successes + 4, Patience);
        }

        // The first leader's host forwards to whoever leads now; every committed registration is there.
        await ExpectEveryUserAsync(fleet, users, first);
    }

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public async Task Sqlite_a_client_given_every_host_recovers_through_another_when_its_host_and_the_leaders_are_killed()
    {
        await using ProcessFleet fleet = await ProcessFleet.StartAsync(3);
        int leader = await fleet.WaitForLeaderAsync();
        VaultClientOptions options = fleet.ClientOptions(leader, IdentityKsf.Instance) with
        {
            FailoverHosts = [.. Enumerable.Range(0, 3).Where(m => m != leader).Select(m => new VaultHostAddress("127.0.0.1", fleet.Ports[m]))],
            ConnectTimeout = TimeSpan.FromSeconds(5),
            RequestTimeout = TimeSpan.FromSeconds(20),
        };
        await using VaultClient client = new(options);
        byte[] key = RandomNumberGenerator.GetBytes(32);
        VaultOutcome registered = await RetryAsync(() => client.RegisterAsync("alice", Password("alice"), key));
        Assert.IsInstanceOfType<UserRegistered>(registered, registered.Describe());
        Assert.AreEqual(fleet.Ports[leader], client.ConnectedHost?.Port, "the client starts at its first host");

        // The client's host is the leader's: killing it takes the client's host away and forces an election.
        await fleet.KillHostAsync(leader);
        var seen = new List<string>();
        VaultOutcome outcome = await RetryAsync(async () =>
        {
            VaultOutcome attempt = await client.RecoverAsync("alice", Password("alice"));
            seen.Add(attempt.GetType().Name);
            return attempt;
        });

        using KeyRecovered recovered = outcome as KeyRecovered
            ?? throw new AssertFailedException($"after the host was killed: {outcome.Describe()} (outcomes: {string.Join(", ", seen)})\n{await fleet.DescribeAsync()}");
        CollectionAssert.AreEqual(key, recovered.Key);
        Assert.AreNotEqual(fleet.Ports[leader], client.ConnectedHost?.Port, "the client moved to another host");
        Assert.IsTrue(seen.All(s => s is nameof(KeyRecovered) or nameof(Unavailable) or nameof(Conflict)), string.Join(", ", seen));
        Assert.AreNotEqual(leader, await fleet.WaitForLeaderAsync(not: leader), "another member leads");
    }

    private static async Task<Dictionary<string, byte[]>> RegisterAsync(ProcessFleet fleet, int count)
    {
        var users = new Dictionary<string, byte[]>();
        await using VaultClient client = new(fleet.ClientOptions(0, IdentityKsf.Instance));
        for (int i = 0; i < count; i++)
        {
            string name = $"user-{i}";
            byte[] key = RandomNumberGenerator.GetBytes(32);
            VaultOutcome outcome = await RetryAsync(() => client.RegisterAsync(name, Password(name), key));
            Assert.IsInstanceOfType<UserRegistered>(outcome, outcome.Describe());
            users[name] = key;
        }

        return users;
    }

    private static async Task ExpectEveryUserAsync(ProcessFleet fleet, Dictionary<string, byte[]> users, int viaMember)
    {
        await using VaultClient client = new(fleet.ClientOptions(viaMember, IdentityKsf.Instance));
        foreach ((string name, byte[] key) in users)
        {
            VaultOutcome outcome = await RetryAsync(() => client.RecoverAsync(name, Password(name)));
            using KeyRecovered recovered = outcome as KeyRecovered
                ?? throw new AssertFailedException($"{name} via host {viaMember}: {outcome.Describe()}\n{await fleet.DescribeAsync()}");
            CollectionAssert.AreEqual(key, recovered.Key, $"{name}: a wrong key");
        }

        // Whatever was killed, the shared store is one whole commit: the tree complete, its leaves the records, no node left over.
        StoreAudit.Result audit = StoreAudit.Check(fleet.StoreLocation, fleet.StoreIsPostgres);
        Assert.IsEmpty(audit.Problems, $"the store after the kills: {audit}");
        Assert.IsGreaterThanOrEqualTo(users.Count, audit.Records, audit.ToString());
    }

    // A leader change answers UNAVAILABLE (or a concurrent login CONFLICT) for a moment: a client tries again.
    private static async Task<VaultOutcome> RetryAsync(Func<Task<VaultOutcome>> operation)
    {
        DateTime deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            VaultOutcome outcome = await operation();
            if (outcome is not (Unavailable or Conflict) || DateTime.UtcNow > deadline)
            {
                return outcome;
            }

            await Task.Delay(100);
        }
    }

    private static byte[] Password(string user) => Encoding.UTF8.GetBytes("password of " + user);

    /// <summary>Clients recovering their own users through every host, in a loop; any wrong key or wrong-password answer is a failure.</summary>
    private sealed class Load : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _clients;
        private readonly ConcurrentQueue<string> _wrong = new();
        private long _successes;

        private Load(ProcessFleet fleet, Dictionary<string, byte[]> users)
        {
            _clients = [.. users.Select((user, i) => Task.Run(() => RunAsync(fleet, i % fleet.Size, user.Key, user.Value)))];
        }

        public long Successes => Interlocked.Read(ref _successes);

        public static Load Start(ProcessFleet fleet, Dictionary<string, byte[]> users) => new(fleet, users);

        public async Task WaitForMoreThanAsync(long successes, TimeSpan limit)
        {
            DateTime deadline = DateTime.UtcNow + limit;
            while (Successes <= successes)
            {
                Assert.IsTrue(_wrong.IsEmpty, string.Join('\n', _wrong));
                if (DateTime.UtcNow > deadline)
                {
                    Assert.Fail($"recoveries stalled at {Successes} (expected more than {successes})");
                }

                await Task.Delay(100);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_clients);
            Assert.IsTrue(_wrong.IsEmpty, string.Join('\n', _wrong));
        }

        private async Task RunAsync(ProcessFleet fleet, int member, string user, byte[] key)
        {
            while (!_stop.IsCancellationRequested)
            {
                // A fresh connection each round: a killed host only costs this round.
                await using VaultClient client = new(fleet.ClientOptions(member, IdentityKsf.Instance) with { RequestTimeout = TimeSpan.FromSeconds(10) });
                VaultOutcome outcome = await client.RecoverAsync(user, Password(user));
                switch (outcome)
                {
                    case KeyRecovered recovered:
                        if (!recovered.Key.AsSpan().SequenceEqual(key))
                        {
                            _wrong.Enqueue($"{user} via host {member}: a wrong key");
                        }

                        recovered.Dispose();
                        Interlocked.Increment(ref _successes);
                        break;
                    case Unavailable or Conflict:
                        // A killed HSM or host, or a leader change: try again, through the next host.
                        member = (member + 1) % fleet.Size;
                        await Task.Delay(50);
                        break;
                    default:
                        _wrong.Enqueue($"{user} via host {member}: {outcome.Describe()}");
                        break;
                }
            }
        }
    }
}
