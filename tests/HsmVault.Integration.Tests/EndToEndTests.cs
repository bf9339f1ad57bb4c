using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;

namespace HsmVault.Integration.Tests;

/// <summary>
/// The whole vault as real processes: the simulator on a SoftHSM2 token of its own, the host on
/// loopback TCP, and the client SDK talking to the host. Restarts kill and start real processes.
/// </summary>
[TestClass]
public sealed class EndToEndTests
{
    private static readonly TimeSpan Startup = TimeSpan.FromSeconds(60);
    private static readonly Regex Listening = new("AKE key ([0-9a-f]{66})", RegexOptions.Compiled);

    private string _state = "";
    private string _socket = "";
    private int _port;
    private ChildProcess? _simulator;
    private ChildProcess? _host;
    private FleetPublicKey? _fleetKey;

    [TestInitialize]
    public async Task StartAsync()
    {
        _state = Directory.CreateTempSubdirectory("hsmvault-e2e-").FullName;
        _socket = Path.Combine(_state, "hsm.sock");
        _port = FreePort();
        await StartSimulatorAsync();
        await StartHostAsync();
    }

    [TestCleanup]
    public async Task StopAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        if (_simulator is not null)
        {
            await _simulator.DisposeAsync();
        }

        try
        {
            Directory.Delete(_state, recursive: true);
        }
        catch (IOException)
        {
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

        await _host!.KillAsync();
        await StartHostAsync();
        await using (VaultClient client = NewClient())
        {
            Assert.AreEqual(9u, Expect<StatusReported>(await client.StatusAsync("carol")).AttemptsLeft);
        }

        Assert.AreEqual(0, await _host.StopAsync(TimeSpan.FromSeconds(20)), _host.Output);
        await _simulator!.StopAsync(TimeSpan.FromSeconds(20));
        await StartSimulatorAsync();
        await StartHostAsync();
        await using (VaultClient client = NewClient())
        {
            using KeyRecovered recovered = Expect<KeyRecovered>(await client.RecoverAsync("carol", Password("right")));
            CollectionAssert.AreEqual(key, recovered.Key);
        }
    }

    private VaultClient NewClient() => new(new VaultClientOptions("127.0.0.1", _port, _fleetKey!)
    {
        Ksf = new ScryptKsf(1024, 8, 1),
    });

    private static T Expect<T>(VaultOutcome outcome)
        where T : VaultOutcome =>
        outcome as T ?? throw new AssertFailedException($"expected {typeof(T).Name}, got {outcome.GetType().Name}: {outcome.Describe()}");

    private static byte[] Password(string text) => Encoding.UTF8.GetBytes(text);

    private async Task StartSimulatorAsync()
    {
        string hsm = Path.Combine(_state, "hsm");
        _simulator = ChildProcess.Start(
            "simulator",
            ChildProcess.BuiltAssembly("HsmVault.Simulator"),
            ["serve", "--listen", "unix:" + _socket, "--state-dir", hsm, "--token-label", "hsmvault-e2e"],
            new Dictionary<string, string> { ["SOFTHSM2_CONF"] = Path.Combine(hsm, "softhsm2.conf") });
        Match match = await _simulator.WaitForAsync(Listening, Startup);
        FleetPublicKey key = FleetPublicKey.Parse(match.Groups[1].Value);
        if (_fleetKey is not null)
        {
            Assert.AreEqual(_fleetKey.Hex, key.Hex, "the simulator came back with other keys");
        }

        _fleetKey = key;
    }

    private async Task StartHostAsync()
    {
        _host = ChildProcess.Start(
            "host",
            ChildProcess.BuiltAssembly("HsmVault.Host"),
            [
                "--Host:ListenAddress=127.0.0.1", $"--Host:Port={_port}", "--Hsm:Endpoint=unix:" + _socket,
                "--Store:Path=" + Path.Combine(_state, "host.db"), $"--Health:Port={FreePort()}",
            ]);
        DateTime deadline = DateTime.UtcNow + Startup;
        while (DateTime.UtcNow < deadline)
        {
            Assert.IsFalse(_host.HasExited, "the host exited:\n" + _host.Output);
            using TcpClient probe = new();
            try
            {
                await probe.ConnectAsync(IPAddress.Loopback, _port);
                // The port opens before the host has checked its store against the enclave: wait until it serves.
                await using VaultClient client = NewClient();
                if ((await client.StatusAsync("readiness-probe")) is not Unavailable)
                {
                    return;
                }

                await Task.Delay(100);
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        Assert.Fail("the host did not listen in time:\n" + _host.Output);
    }

    private static int FreePort()
    {
        using TcpListener listener = new(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
