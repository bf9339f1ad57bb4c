using System.Net;
using System.Net.Sockets;
using HsmVault.Enclave.Fleet;
using HsmVault.Host.Bridge;
using HsmVault.Host.Fleet;
using HsmVault.Host.Listener;
using HsmVault.Host.Pipeline;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;
using HsmVault.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using static HsmVault.Host.Tests.RealEnclaveHostTests;

namespace HsmVault.Host.Tests;

/// <summary>
/// One fleet member's HSM for in-process fleet tests: a real <see cref="FleetEnclave"/> over seeded
/// in-memory HSM services (fleet keys shared, identity and NVRAM its own), reached through its
/// encoded entry point. It can be taken down (every request fails as a dead bridge does) and
/// restarted (a new enclave over the same NVRAM: leader RAM lost).
/// </summary>
internal sealed class FleetMemberBridge : IHsmBridge
{
    private readonly ulong _fleetSeed;
    private readonly ulong _memberSeed;
    private readonly Lock _gate = new();
    private FleetEnclave _enclave;

    public FleetMemberBridge(ulong fleetSeed, ulong memberSeed)
    {
        _fleetSeed = fleetSeed;
        _memberSeed = memberSeed;
        Hsm = new InMemoryHsmServices(fleetSeed, memberSeed, Nvram);
        _enclave = new FleetEnclave(Hsm);
    }

    public InMemoryNvram Nvram { get; } = new();

    public InMemoryHsmServices Hsm { get; private set; }

    /// <summary>While set, every request throws <see cref="HsmUnavailableException"/>.</summary>
    public volatile bool Down;

    /// <summary>The HSM restarts: same NVRAM and keys, no RAM.</summary>
    public void Restart()
    {
        lock (_gate)
        {
            Hsm = new InMemoryHsmServices(_fleetSeed, _memberSeed, Nvram);
            _enclave = new FleetEnclave(Hsm);
        }
    }

    public EnclaveResponse Call(EnclaveRequest request)
    {
        lock (_gate)
        {
            return EnclaveResponse.Parser.ParseFrom(_enclave.Handle(Google.Protobuf.MessageExtensions.ToByteArray(request)));
        }
    }

    public Task<EnclaveResponse> SendAsync(EnclaveRequest request, CancellationToken cancellationToken)
    {
        if (Down)
        {
            throw new HsmUnavailableException("the test HSM is down");
        }

        return Task.FromResult(Call(request));
    }
}

/// <summary>One member's host, built as the daemon is, with its in-process HSM.</summary>
internal sealed class FleetMemberHost : IClientSender, IAsyncDisposable
{
    private readonly IHost _host;

    public FleetMemberHost(IHost host, FleetMemberBridge bridge, int peerPort)
    {
        _host = host;
        Bridge = bridge;
        PeerPort = peerPort;
    }

    public FleetMemberBridge Bridge { get; }

    public int PeerPort { get; }

    public FleetPipeline Pipeline => _host.Services.GetRequiredService<FleetPipeline>();

    public Task<ClientResponse> SendAsync(ClientRequest request) =>
        ListenerHarness.ExchangeAsync(_host.Services.GetRequiredService<ClientListener>().LocalEndPoint!.Port, request);

    /// <summary>Sends <paramref name="request"/> to this host's peer endpoint, as another (possibly hostile) host would.</summary>
    public async Task<PeerResponse> SendPeerAsync(PeerRequest request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", PeerPort);
        NetworkStream stream = client.GetStream();
        var codec = new FrameCodec();
        await codec.WriteAsync(stream, request);
        return (await codec.ReadAsync(stream, PeerResponse.Parser))!;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

/// <summary>
/// N member hosts in this process, each with its own in-process HSM, sharing one SQLite store file,
/// talking to each other over loopback TCP exactly as separate daemons do.
/// </summary>
internal sealed class InProcessFleet : IAsyncDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly string[] _extra;
    private readonly int[] _peerPorts;

    private InProcessFleet(int size, ulong seed, string[] extra)
    {
        _extra = extra;
        _peerPorts = [.. Enumerable.Range(0, size).Select(_ => Loopback.FreePort())];
        Bridges = [.. Enumerable.Range(0, size).Select(i => new FleetMemberBridge(seed, (ulong)(1000 + i)))];
        Hosts = new FleetMemberHost?[size];
    }

    public FleetMemberBridge[] Bridges { get; }

    public FleetMemberHost?[] Hosts { get; }

    public string StorePath => _directory.File("fleet.db");

    public int Size => Bridges.Length;

    public static async Task<InProcessFleet> StartAsync(int size, ulong seed = 77, params string[] extra)
    {
        var fleet = new InProcessFleet(size, seed, extra);
        for (int i = 0; i < size; i++)
        {
            await fleet.StartHostAsync(i);
        }

        await fleet.WaitForLeaderAsync();
        return fleet;
    }

    public async Task StartHostAsync(int member)
    {
        string peers = string.Join(",", _peerPorts.Select(p => $"tcp:127.0.0.1:{p}"));
        IHost host = VaultHost.Build(
            [
                "--Host:Port=0", "--Health:Enabled=false", $"--Store:Path={StorePath}", "--Logging:LogLevel:Default=Warning",
                $"--Fleet:Peers={peers}", $"--Fleet:Self={member}", "--Fleet:LeaseDuration=00:00:01", "--Fleet:CaptureTimeout=00:00:01",
                "--Fleet:PeerTimeout=00:00:01", "--Hsm:ReconnectDelay=00:00:00.100", "--Hsm:MaxReconnectDelay=00:00:00.200", .. _extra,
            ],
            _ => Bridges[member]);
        await host.StartAsync();
        Hosts[member] = new FleetMemberHost(host, Bridges[member], _peerPorts[member]);
    }

    public async Task StopHostAsync(int member)
    {
        if (Hosts[member] is { } host)
        {
            Hosts[member] = null;
            await host.DisposeAsync();
        }
    }

    public FleetMemberHost Host(int member) => Hosts[member] ?? throw new InvalidOperationException($"host {member} is stopped");

    /// <summary>The member whose host leads and serves; waits up to 20 s for one.</summary>
    public async Task<int> WaitForLeaderAsync()
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            for (int i = 0; i < Size; i++)
            {
                if (Hosts[i] is { } host && !Bridges[i].Down && host.Pipeline.Leading && host.Pipeline.Status == ServiceStatus.Serving)
                {
                    return i;
                }
            }

            await Task.Delay(20);
        }

        string states = string.Join("; ", Hosts.Select((h, i) => h is null ? $"{i}: stopped" : $"{i}: {h.Pipeline.Status} {h.Pipeline.StatusDetail}"));
        throw new AssertFailedException($"no leader serving within 20 s ({states})");
    }

    /// <summary>Sends through <paramref name="member"/>'s host until it is not UNAVAILABLE (a leader change in progress), up to 20 s.</summary>
    public async Task<ClientResponse> SendUntilAvailableAsync(int member, Func<ClientRequest> request)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            ClientResponse response = await Host(member).SendAsync(request());
            if (response.Error is not { Code: ErrorCode.Unavailable } || DateTime.UtcNow > deadline)
            {
                return response;
            }

            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        for (int i = 0; i < Size; i++)
        {
            await StopHostAsync(i);
        }

        _directory.Dispose();
    }

}
