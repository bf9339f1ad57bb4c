using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
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

    [TestMethod]
    public async Task Neither_the_password_nor_the_key_reaches_the_host_store_or_its_log()
    {
        byte[] password = Password("a distinctive passphrase 7Qx!");
        byte[] key = RandomNumberGenerator.GetBytes(32);
        await using (VaultClient client = NewClient())
        {
            Expect<UserRegistered>(await client.RegisterAsync("dave", password, key));
            Expect<WrongPassword>(await client.RecoverAsync("dave", Password("a distinctive wrong guess 9Zy?")));
            using KeyRecovered recovered = Expect<KeyRecovered>(await client.RecoverAsync("dave", password));
            CollectionAssert.AreEqual(key, recovered.Key);
        }

        using (HttpClient http = new())
        {
            string health = await http.GetStringAsync(new Uri($"http://127.0.0.1:{_fleet!.HealthPort}/health"));
            StringAssert.Contains(health, "\"records\": 1", "the store should hold dave's record: " + health);
        }

        // Stop the host cleanly so SQLite folds its WAL into the database, then read everything it kept.
        Assert.AreEqual(0, await _fleet.Host!.StopAsync(TimeSpan.FromSeconds(20)), _fleet.Host.Output);
        string[] storeFiles = Directory.GetFiles(_fleet.StateDirectory, "host.db*");
        Assert.IsTrue(storeFiles.Length > 0, "the host kept no store files");
        byte[] store = storeFiles.SelectMany(File.ReadAllBytes).ToArray();
        byte[] log = Encoding.UTF8.GetBytes(_fleet.Host.Output);

        foreach ((string what, byte[] secret) in new[] { ("password", password), ("wrong guess", Password("a distinctive wrong guess 9Zy?")), ("key", key) })
        {
            Assert.AreEqual(-1, store.AsSpan().IndexOf(secret), $"the {what} is in the host's store");
            Assert.AreEqual(-1, log.AsSpan().IndexOf(secret), $"the {what} is in the host's log");
            string hex = Convert.ToHexStringLower(secret);
            Assert.AreEqual(-1, _fleet.Host.Output.IndexOf(hex, StringComparison.OrdinalIgnoreCase), $"the {what} is in the host's log as hex");
            Assert.AreEqual(-1, _fleet.Simulator!.Output.IndexOf(hex, StringComparison.OrdinalIgnoreCase), $"the {what} is in the simulator's log as hex");
        }
    }

    [TestMethod]
    public async Task Killing_the_simulator_makes_the_host_not_ready_without_client_traffic_and_a_new_one_makes_it_ready_again()
    {
        await using (VaultClient client = NewClient())
        {
            Expect<UserRegistered>(await client.RegisterAsync("erin", Password("right"), RandomNumberGenerator.GetBytes(32)));
        }

        using JsonDocument serving = await WaitForReadyAsync(200);
        ulong logIndex = serving.RootElement.GetProperty("logIndex").GetUInt64();
        Assert.IsTrue(logIndex > 0, serving.RootElement.ToString());
        Assert.AreEqual($"serving at log index {logIndex}", serving.RootElement.GetProperty("detail").GetString());

        await _fleet!.Simulator!.KillAsync();
        using JsonDocument down = await WaitForReadyAsync(503);
        await _fleet.StartSimulatorAsync();
        using JsonDocument back = await WaitForReadyAsync(200);

        Assert.AreEqual("unavailable", down.RootElement.GetProperty("status").GetString());
        Assert.IsFalse(down.RootElement.GetProperty("enclaveReachable").GetBoolean());
        Assert.AreEqual(logIndex, back.RootElement.GetProperty("logIndex").GetUInt64());
    }

    // Polls /health/ready until it answers with the status; the bound is generous (the host probes every 2 s).
    private async Task<JsonDocument> WaitForReadyAsync(int expected)
    {
        using HttpClient http = new() { Timeout = TimeSpan.FromSeconds(10) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using HttpResponseMessage response = await http.GetAsync(new Uri($"http://127.0.0.1:{_fleet!.HealthPort}/health/ready"));
            string body = await response.Content.ReadAsStringAsync();
            if ((int)response.StatusCode == expected)
            {
                return JsonDocument.Parse(body);
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"/health/ready stayed {(int)response.StatusCode}, expected {expected}: {body}\n{_fleet.Host!.Output}");
            }

            await Task.Delay(100);
        }
    }

    private VaultClient NewClient() => new(_fleet!.ClientOptions(new ScryptKsf(1024, 8, 1)));

    private static T Expect<T>(VaultOutcome outcome)
        where T : VaultOutcome =>
        outcome as T ?? throw new AssertFailedException($"expected {typeof(T).Name}, got {outcome.GetType().Name}: {outcome.Describe()}");

    private static byte[] Password(string text) => Encoding.UTF8.GetBytes(text);
}
