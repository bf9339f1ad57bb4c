using System.Net;
using System.Net.Sockets;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Hpke;
using HsmVault.Protocol.Fleet;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Client.Tests;

/// <summary>
/// A client given several hosts of one fleet (<see cref="VaultClientOptions.FailoverHosts"/>): a
/// host that cannot be reached is skipped with nothing sent to it; a request whose answer is lost
/// is never resent, so a guess is counted once; and a host of another fleet in the list gains
/// nothing from its place.
/// </summary>
[TestClass]
public sealed class FailoverClientTests
{
    private static VaultClientOptions Through(FakeVault vault, int primary, params int[] failover) =>
        TestClients.OptionsFor(vault) with
        {
            Port = primary,
            FailoverHosts = [.. failover.Select(port => new VaultHostAddress("127.0.0.1", port))],
            ConnectTimeout = TimeSpan.FromSeconds(2),
        };

    [TestMethod]
    public async Task A_host_that_cannot_be_reached_is_skipped_and_the_next_one_serves()
    {
        await using var vault = new FakeVault();
        var progress = new List<VaultProgress>();
        VaultClient client = new(Through(vault, TestClients.ClosedPort(), vault.Port) with { Progress = new SyncProgress(progress) });

        VaultOutcome registered = await client.RegisterAsync("alice", TestClients.Password("pw"), TestClients.Key(7));
        VaultOutcome recovered = await client.RecoverAsync("alice", TestClients.Password("pw"));

        Assert.IsInstanceOfType<UserRegistered>(registered);
        CollectionAssert.AreEqual(TestClients.Key(7), Assert.IsInstanceOfType<KeyRecovered>(recovered).Key);
        Assert.AreEqual(1, vault.RegisterFinishCount);
        Assert.AreEqual(1, vault.LoginStartCount, "one recovery, one counted guess");
        Assert.AreEqual(1, progress.Count(p => p == VaultProgress.FailingOver), "the dead host is tried once; the client stays on the one that answered");
    }

    [TestMethod]
    public async Task When_no_host_can_be_reached_the_outcome_names_every_host()
    {
        await using var vault = new FakeVault();
        int first = TestClients.ClosedPort();
        int second = TestClients.ClosedPort();
        VaultClient client = new(Through(vault, first, second));

        VaultOutcome outcome = await client.StatusAsync("alice");

        var unavailable = Assert.IsInstanceOfType<Unavailable>(outcome);
        StringAssert.Contains(unavailable.Detail, "none of the 2 vault hosts could be reached");
        StringAssert.Contains(unavailable.Detail, $"127.0.0.1:{first}");
        StringAssert.Contains(unavailable.Detail, $"127.0.0.1:{second}");
        Assert.AreEqual(0, vault.RequestCount);
    }

    [TestMethod]
    public async Task A_host_that_dies_between_operations_is_left_for_the_next_without_resending_anything()
    {
        await using var vault = new FakeVault();
        var host = new Forwarder(vault.Port);
        VaultClient client = new(Through(vault, host.Port, vault.Port));
        Assert.IsInstanceOfType<UserRegistered>(await client.RegisterAsync("alice", TestClients.Password("pw"), TestClients.Key(3)));
        Assert.AreEqual(1, host.Connections, "the first host served the registration");
        int requestsBefore = vault.RequestCount;

        // The host goes away while the client's connection to it is idle.
        host.Dispose();
        VaultOutcome recovered = await client.RecoverAsync("alice", TestClients.Password("pw"));

        CollectionAssert.AreEqual(TestClients.Key(3), Assert.IsInstanceOfType<KeyRecovered>(recovered).Key);
        Assert.AreEqual(1, vault.LoginStartCount, "exactly one guess counted");
        Assert.AreEqual(2, vault.RequestCount - requestsBefore, "a recovery is two requests; none was sent twice");
    }

    [TestMethod]
    public async Task A_request_whose_answer_is_lost_is_not_resent_and_the_next_request_goes_to_the_next_host()
    {
        await using var vault = new FakeVault();
        using var host = new Forwarder(vault.Port) { DropAnswers = true };
        VaultClient seeding = TestClients.For(vault);
        Assert.IsInstanceOfType<UserRegistered>(await seeding.RegisterAsync("alice", TestClients.Password("pw"), TestClients.Key(4)));
        VaultClient client = new(Through(vault, host.Port, vault.Port));

        // The hostile or failing host passes the login's first step to the fleet, which counts the
        // guess, and drops the answer. Resending it to the next host would count a second guess.
        VaultOutcome lost = await client.RecoverAsync("alice", TestClients.Password("wrong"));

        Assert.IsInstanceOfType<Unavailable>(lost);
        Assert.AreEqual(1, vault.LoginStartCount, "the lost request reached the fleet once and was not resent");
        Assert.AreEqual(1u, vault.AttemptsUsed("alice"));

        VaultOutcome recovered = await client.RecoverAsync("alice", TestClients.Password("pw"));

        CollectionAssert.AreEqual(TestClients.Key(4), Assert.IsInstanceOfType<KeyRecovered>(recovered).Key);
        Assert.AreEqual(1, host.Connections, "the next request started at the next host");
        Assert.AreEqual(2, vault.LoginStartCount);
    }

    [TestMethod]
    public async Task A_host_answering_busy_in_the_clear_is_not_retried_and_the_next_request_starts_at_the_next_host()
    {
        await using var vault = new FakeVault();
        using var busy = new BusyHost();
        VaultClient client = new(Through(vault, busy.Port, vault.Port));

        VaultOutcome first = await client.StatusAsync("alice");
        VaultOutcome second = await client.StatusAsync("alice");

        StringAssert.Contains(Assert.IsInstanceOfType<Unavailable>(first).Detail, "BUSY");
        Assert.IsInstanceOfType<NoRecord>(second);
        Assert.AreEqual(1, busy.Requests, "the busy host was asked once");
        Assert.AreEqual(1, vault.RequestCount);
    }

    [TestMethod]
    public async Task A_failover_host_of_another_fleet_cannot_serve_the_pinned_fleets_users()
    {
        await using var vault = new FakeVault();
        await using var impostor = new FakeVault(fleetId: "impostor");
        VaultClient client = new(Through(vault, TestClients.ClosedPort(), impostor.Port));

        VaultOutcome outcome = await client.RegisterAsync("alice", TestClients.Password("pw"), TestClients.Key(9));

        Assert.IsInstanceOfType<FleetNotAuthenticated>(outcome);
        Assert.AreEqual(0, impostor.RegisterFinishCount);
        Assert.IsNull(impostor.StoredBlob("alice"), "nothing of alice's reached the other fleet");
        Assert.AreEqual(0, vault.RequestCount);
    }

    [TestMethod]
    public void Failover_hosts_are_checked_like_the_first()
    {
        FleetKeySet keys = FleetKeySet.Create("any", P256HpkeKeyPair.Derive("any fleet"u8).PublicKey, P256Group.Generator);
        var options = new VaultClientOptions("127.0.0.1", 7300, keys) { FailoverHosts = [new VaultHostAddress("h", 7300), new VaultHostAddress("", 7301)] };
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new VaultClient(options)).Message, "FailoverHosts[1]: the host must not be empty");
        options = options with { FailoverHosts = [new VaultHostAddress("h", 0)] };
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new VaultClient(options)).Message, "FailoverHosts[0]: port 0");
    }

    private sealed class SyncProgress(List<VaultProgress> seen) : IProgress<VaultProgress>
    {
        public void Report(VaultProgress value)
        {
            lock (seen)
            {
                seen.Add(value);
            }
        }
    }

    /// <summary>
    /// A host as bytes on the wire: forwards each connection to the fleet's port. With
    /// <see cref="DropAnswers"/> it passes requests on and closes the client's side once the fleet
    /// has answered, without passing the answer back. <see cref="Dispose"/> stops it and cuts every connection.
    /// </summary>
    private sealed class Forwarder : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly int _target;
        private readonly List<TcpClient> _open = [];
        private int _connections;

        public Forwarder(int target)
        {
            _target = target;
            _listener.Start();
            _ = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public bool DropAnswers { get; init; }

        public int Connections => Volatile.Read(ref _connections);

        public void Dispose()
        {
            _listener.Stop();
            lock (_open)
            {
                foreach (TcpClient client in _open)
                {
                    Reset(client);
                }
            }
        }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    TcpClient inbound = await _listener.AcceptTcpClientAsync();
                    Interlocked.Increment(ref _connections);
                    var outbound = new TcpClient();
                    await outbound.ConnectAsync(IPAddress.Loopback, _target);
                    lock (_open)
                    {
                        _open.Add(inbound);
                        _open.Add(outbound);
                    }

                    _ = PumpAsync(inbound.GetStream(), outbound.GetStream(), inbound);
                    _ = DropAnswers
                        ? DrainThenCloseAsync(outbound.GetStream(), inbound)
                        : PumpAsync(outbound.GetStream(), inbound.GetStream(), inbound);
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }

        private static async Task PumpAsync(NetworkStream from, NetworkStream to, TcpClient inbound)
        {
            try
            {
                await from.CopyToAsync(to);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
            {
            }

            inbound.Dispose();
        }

        // Reads the fleet's answer and throws it away; then hangs up on the client.
        private static async Task DrainThenCloseAsync(NetworkStream from, TcpClient inbound)
        {
            try
            {
                await new FrameCodec().ReadPayloadAsync(from);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException or FrameFormatException)
            {
            }

            Reset(inbound);
        }

        // Closes with a reset (linger 0), as a host that dies does; a connection already closed is left alone.
        private static void Reset(TcpClient client)
        {
            try
            {
                if (client.Client is { } socket)
                {
                    socket.LingerState = new LingerOption(true, 0);
                }
            }
            catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
            {
            }

            client.Dispose();
        }
    }

    /// <summary>A host that answers every request BUSY in the clear, and counts them.</summary>
    private sealed class BusyHost : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private int _requests;

        public BusyHost()
        {
            _listener.Start();
            _ = ServeAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int Requests => Volatile.Read(ref _requests);

        public void Dispose() => _listener.Stop();

        private async Task ServeAsync()
        {
            try
            {
                while (true)
                {
                    using TcpClient client = await _listener.AcceptTcpClientAsync();
                    NetworkStream stream = client.GetStream();
                    var codec = new FrameCodec();
                    while (await codec.ReadAsync(stream, ClientRequest.Parser) is { } request)
                    {
                        Interlocked.Increment(ref _requests);
                        await codec.WriteAsync(stream, new ClientResponse { RequestId = request.RequestId, Error = new Error { Code = ErrorCode.Busy, Message = "too many requests" } });
                    }
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
            {
            }
        }
    }
}
