using System.Security.Cryptography;
using System.Text;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Testing;

namespace HsmVault.Integration.Tests;

/// <summary>
/// The whole vault as real processes: the simulator on a SoftHSM2 token of its own, the host on
/// loopback TCP, and the client SDK talking to the host. Restarts kill and start real processes.
/// </summary>
[TestClass]
public sealed class EndToEndTests
{
    private LocalFleet? _fleet;

    [TestInitialize]
    public async Task StartAsync() => _fleet = await LocalFleet.StartAsync("hsmvault-e2e");

    [TestCleanup]
    public async Task StopAsync()
    {
        if (_fleet is not null)
        {
            await _fleet.DisposeAsync();
        }
    }

    [TestMethod]
    public async Task Register_recover_count_wrong_guesses_and_delete_through_real_processes()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        await using VaultClient client = NewClient();
        Expect<UserRegistered>(await client.RegisterAsync("alice", Password("right"), key));

        WrongPassword first = Expect<WrongPassword>(await client.RecoverAsync("alice", Password("wrong")));
        Assert.AreEqual(9u, first.AttemptsLeft);
        StatusReported status = Expect<StatusReported>(await client.StatusAsync("alice"));
        Assert.AreEqual(9u, status.AttemptsLeft);

        using KeyRecovered recovered = Expect<KeyRecovered>(await client.RecoverAsync("alice", Password("right")));
        CollectionAssert.AreEqual(key, recovered.Key);
        Assert.AreEqual(10u, Expect<StatusReported>(await client.StatusAsync("alice")).AttemptsLeft);

        Expect<UserDeleted>(await client.DeleteAsync("alice", Password("right")));
        Expect<NoRecord>(await client.RecoverAsync("alice", Password("right")));
    }

    [TestMethod]
    public async Task The_limit_destroys_the_record_and_it_then_looks_like_an_unknown_user()
    {
        await using VaultClient client = NewClient();
        Expect<UserRegistered>(await client.RegisterAsync("bob", Password("right"), RandomNumberGenerator.GetBytes(32)));
        for (int guess = 1; guess <= 10; guess++)
        {
            VaultOutcome outcome = await client.RecoverAsync("bob", Password("wrong " + guess));
            Assert.IsTrue(outcome is WrongPassword or NoRecord, $"guess {guess}: {outcome.Describe()}");
        }

        Expect<NoRecord>(await client.RecoverAsync("bob", Password("right")));
        Assert.AreEqual(
            (await client.StatusAsync("nobody-ever")).Describe(),
            (await client.StatusAsync("bob")).Describe());
    }

    [TestMethod]
    public async Task Host_and_simulator_restarts_keep_every_record()
    {
        byte[] key = RandomNumberGenerator.GetBytes(32);
        await using (VaultClient client = NewClient())
        {
            Expect<UserRegistered>(await client.RegisterAsync("carol", Password("right"), key));
            Expect<WrongPassword>(await client.RecoverAsync("carol", Password("wrong")));
        }

        await _fleet!.Host!.KillAsync();
        await _fleet.StartHostAsync();
        await using (VaultClient client = NewClient())
        {
            Assert.AreEqual(9u, Expect<StatusReported>(await client.StatusAsync("carol")).AttemptsLeft);
        }

        Assert.AreEqual(0, await _fleet.Host!.StopAsync(TimeSpan.FromSeconds(20)), _fleet.Host.Output);
        await _fleet.Simulator!.StopAsync(TimeSpan.FromSeconds(20));
        await _fleet.StartSimulatorAsync();
        await _fleet.StartHostAsync();
        await using (VaultClient client = NewClient())
        {
            using KeyRecovered recovered = Expect<KeyRecovered>(await client.RecoverAsync("carol", Password("right")));
            CollectionAssert.AreEqual(key, recovered.Key);
        }
    }

    [TestMethod]
    public async Task Concurrent_clients_get_their_own_keys_and_every_concurrent_guess_is_counted()
    {
        const int Clients = 8;
        byte[][] keys = Enumerable.Range(0, Clients).Select(_ => RandomNumberGenerator.GetBytes(32)).ToArray();
        await Parallel.ForAsync(0, Clients, async (i, _) =>
        {
            await using VaultClient client = NewClient();
            Expect<UserRegistered>(await client.RegisterAsync($"user-{i}", Password($"pw {i}"), keys[i]));
        });

        await using (VaultClient victim = NewClient())
        {
            Expect<UserRegistered>(await victim.RegisterAsync("user-0-victim", Password("victim"), RandomNumberGenerator.GetBytes(32)));
        }

        // Every client recovers its own key while four others guess wrong on one shared victim:
        // the batches mix users, and each guess must still land exactly once.
        Task[] recoveries = Enumerable.Range(0, Clients).Select(i => Task.Run(async () =>
        {
            await using VaultClient client = NewClient();
            for (int round = 0; round < 3; round++)
            {
                using KeyRecovered recovered = Expect<KeyRecovered>(await client.RecoverAsync($"user-{i}", Password($"pw {i}")));
                CollectionAssert.AreEqual(keys[i], recovered.Key, $"user-{i} round {round}");
            }
        })).ToArray();
        Task[] guesses = Enumerable.Range(0, 4).Select(g => Task.Run(async () =>
        {
            await using VaultClient client = NewClient();
            Expect<WrongPassword>(await client.RecoverAsync("user-0-victim", Password($"guess {g}")));
        })).ToArray();
        await Task.WhenAll(recoveries);
        await Task.WhenAll(guesses);
        await using VaultClient observer = NewClient();
        Assert.AreEqual(6u, Expect<StatusReported>(await observer.StatusAsync("user-0-victim")).AttemptsLeft);
    }

    private VaultClient NewClient() => new(_fleet!.ClientOptions(new ScryptKsf(1024, 8, 1)));

    private static T Expect<T>(VaultOutcome outcome)
        where T : VaultOutcome =>
        outcome as T ?? throw new AssertFailedException($"expected {typeof(T).Name}, got {outcome.GetType().Name}: {outcome.Describe()}");

    private static byte[] Password(string text) => Encoding.UTF8.GetBytes(text);
}
