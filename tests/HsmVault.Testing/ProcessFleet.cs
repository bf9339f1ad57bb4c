using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Testing;

/// <summary>
/// A replicated fleet made of real processes on this machine: N simulators, each serving a fleet
/// member on a SoftHSM2 token of its own (member 0's token provisioned, the others cloned from it by
/// the simulator's TEST-ONLY clone: same fleet keys, own identity key), and N hosts, one per member,
/// sharing one store (a SQLite file by default, or a PostgreSQL database) and reaching each other on
/// loopback peer ports. Any simulator or host can be killed and started again over its state.
/// </summary>
public sealed partial class ProcessFleet : IAsyncDisposable
{
    private static readonly TimeSpan StartupLimit = TimeSpan.FromSeconds(90);

    private readonly string? _postgres;
    private readonly IReadOnlyList<string> _hostSettings;
    private readonly Func<int, int, IReadOnlyDictionary<string, string>?>? _hostEnvironment;
    private readonly int[] _hostStarts;
    private readonly int[] _peerPorts;
    private readonly ChildProcess?[] _simulators;
    private readonly ChildProcess?[] _hosts;
    private FleetKeySet? _fleetKeys;

    private ProcessFleet(string state, int size, string? postgres, IReadOnlyList<string> hostSettings, Func<int, int, IReadOnlyDictionary<string, string>?>? hostEnvironment)
    {
        _hostEnvironment = hostEnvironment;
        _hostStarts = new int[size];
        StateDirectory = state;
        _postgres = postgres;
        _hostSettings = hostSettings;
        Ports = [.. Enumerable.Range(0, size).Select(_ => Loopback.FreePort())];
        HealthPorts = [.. Enumerable.Range(0, size).Select(_ => Loopback.FreePort())];
        _peerPorts = [.. Enumerable.Range(0, size).Select(_ => Loopback.FreePort())];
        _simulators = new ChildProcess?[size];
        _hosts = new ChildProcess?[size];
    }

    public string StateDirectory { get; }

    /// <summary>The hosts' shared store: the SQLite file's path, or the PostgreSQL connection string.</summary>
    public string StoreLocation => _postgres ?? Path.Combine(StateDirectory, "fleet.db");

    /// <summary>Whether <see cref="StoreLocation"/> is a PostgreSQL connection string.</summary>
    public bool StoreIsPostgres => _postgres is not null;

    public int Size => _hosts.Length;

    /// <summary>Each member's host client port on 127.0.0.1.</summary>
    public int[] Ports { get; }

    /// <summary>Each member's host health port on 127.0.0.1.</summary>
    public int[] HealthPorts { get; }

    /// <summary>The fleet-key set every member's simulator wrote (the same for all); clients pin it.</summary>
    public FleetKeySet FleetKeys => _fleetKeys ?? throw new InvalidOperationException("the simulators have not started");

    public string FleetKeysPath => Path.Combine(HsmDirectory(0), "fleet-keys.json");

    public ChildProcess? Simulator(int member) => _simulators[member];

    public ChildProcess? Host(int member) => _hosts[member];

    /// <summary>
    /// Provisions member 0's token, clones it for the others, starts every simulator and host, and
    /// returns once a client's status query through host 0 is answered. <paramref name="postgres"/>
    /// is a connection string for a PostgreSQL store; null uses one SQLite file for all hosts.
    /// <paramref name="hostEnvironment"/> gives extra environment for (member, how many times that
    /// member's host has started before).
    /// </summary>
    public static async Task<ProcessFleet> StartAsync(int size = 5, string? postgres = null, IReadOnlyList<string>? hostSettings = null, Func<int, int, IReadOnlyDictionary<string, string>?>? hostEnvironment = null)
    {
        string state = Directory.CreateTempSubdirectory("hsmvault-pfleet-").FullName;
        var fleet = new ProcessFleet(state, size, postgres, hostSettings ?? [], hostEnvironment);
        try
        {
            await fleet.ProvisionByCeremonyOrCloneAsync().ConfigureAwait(false);
            await Task.WhenAll(Enumerable.Range(0, size).Select(fleet.StartSimulatorAsync)).ConfigureAwait(false);
            for (int i = 0; i < size; i++)
            {
                fleet.StartHostProcess(i);
            }

            await fleet.WaitUntilServingAsync(0).ConfigureAwait(false);
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public VaultClientOptions ClientOptions(int member, IKeyStretchingFunction ksf) => new("127.0.0.1", Ports[member], FleetKeys) { Ksf = ksf };

    /// <summary>Starts member <paramref name="member"/>'s simulator over its token and waits until it listens.</summary>
    public async Task StartSimulatorAsync(int member)
    {
        string hsm = HsmDirectory(member);
        if (_simulators[member] is { } previous)
        {
            await previous.DisposeAsync().ConfigureAwait(false);
        }

        ChildProcess simulator = ChildProcess.Start(
            $"simulator-{member}",
            ChildProcess.BuiltAssembly("HsmVault.Simulator"),
            ["serve", "--fleet", "--listen", "unix:" + Socket(member), "--state-dir", hsm, "--token-label", "hsmvault-fleet"],
            new Dictionary<string, string> { ["SOFTHSM2_CONF"] = Path.Combine(hsm, "softhsm2.conf") });
        _simulators[member] = simulator;
        await simulator.WaitForAsync(ListeningLine(), StartupLimit).ConfigureAwait(false);
        FleetKeySet keys = FleetKeySet.Load(Path.Combine(hsm, "fleet-keys.json"));
        if (_fleetKeys is not null && !keys.Digest.AsSpan().SequenceEqual(_fleetKeys.Digest))
        {
            throw new InvalidOperationException($"member {member}'s simulator has other fleet keys than member 0's:\n{simulator.Output}");
        }

        _fleetKeys ??= keys;
    }

    /// <summary>Starts member <paramref name="member"/>'s host and returns at once (it may need other members back to serve).</summary>
    public void LaunchHost(int member) => StartHostProcess(member);

    /// <summary>Starts member <paramref name="member"/>'s host and waits until its health says it serves.</summary>
    public async Task StartHostAsync(int member)
    {
        StartHostProcess(member);
        await WaitUntilServingAsync(member).ConfigureAwait(false);
    }

    /// <summary>kill -9 of member <paramref name="member"/>'s simulator: the HSM is gone, its NVRAM stays on its token.</summary>
    public async Task KillSimulatorAsync(int member)
    {
        if (_simulators[member] is { } simulator)
        {
            _simulators[member] = null;
            await simulator.KillAsync().ConfigureAwait(false);
            await simulator.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>True while member <paramref name="member"/>'s host process runs.</summary>
    public bool HostRunning(int member) => _hosts[member] is { HasExited: false };

    /// <summary>True while member <paramref name="member"/>'s simulator process runs.</summary>
    public bool SimulatorRunning(int member) => _simulators[member] is { HasExited: false };

    /// <summary>kill -9 of member <paramref name="member"/>'s host.</summary>
    public async Task KillHostAsync(int member)
    {
        if (_hosts[member] is { } host)
        {
            _hosts[member] = null;
            await host.KillAsync().ConfigureAwait(false);
            await host.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The member whose host says it leads and serves, or -1.</summary>
    public async Task<int> LeaderAsync()
    {
        for (int i = 0; i < Size; i++)
        {
            if (_hosts[i] is not null && (await HealthAsync(i).ConfigureAwait(false)).Contains("leading the fleet", StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Waits up to <paramref name="limit"/> (default 60 s) for a member other than <paramref name="not"/> to lead.</summary>
    public async Task<int> WaitForLeaderAsync(int not = -1, TimeSpan? limit = null)
    {
        DateTime deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            int leader = await LeaderAsync().ConfigureAwait(false);
            if (leader >= 0 && leader != not)
            {
                return leader;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        throw new TimeoutException($"no member other than {not} leads within the limit:\n{await DescribeAsync().ConfigureAwait(false)}");
    }

    /// <summary>Each host's readiness detail on one line each, for failure messages.</summary>
    public async Task<string> DescribeAsync()
    {
        var lines = new List<string>();
        for (int i = 0; i < Size; i++)
        {
            lines.Add(_hosts[i] is null ? $"host {i}: not running" : $"host {i}: {await HealthAsync(i).ConfigureAwait(false)}");
        }

        return string.Join('\n', lines);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (ChildProcess? host in _hosts)
        {
            if (host is not null)
            {
                await host.DisposeAsync().ConfigureAwait(false);
            }
        }

        foreach (ChildProcess? simulator in _simulators)
        {
            if (simulator is not null)
            {
                await simulator.DisposeAsync().ConfigureAwait(false);
            }
        }

        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A process that has not let go of a file yet leaves the directory behind in /tmp.
        }
    }

    private string HsmDirectory(int member) => Path.Combine(StateDirectory, $"hsm-{member}");

    private string Socket(int member) => Path.Combine(StateDirectory, $"sim-{member}.sock");

    // Member 0's token is provisioned by one simulator start; the others are cloned from it (TEST ONLY).
    private async Task ProvisionAsync()
    {
        await StartSimulatorAsync(0).ConfigureAwait(false);
        await _simulators[0]!.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await _simulators[0]!.DisposeAsync().ConfigureAwait(false);
        _simulators[0] = null;
        for (int i = 1; i < Size; i++)
        {
            await using ChildProcess clone = ChildProcess.Start(
                $"clone-{i}", ChildProcess.BuiltAssembly("HsmVault.Simulator"), ["clone", "--from", HsmDirectory(0), "--to", HsmDirectory(i)]);
            int code = await clone.WaitForExitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            if (code != 0 || !Directory.Exists(HsmDirectory(i)))
            {
                throw new InvalidOperationException($"cloning member {i}'s token failed ({code}):\n{clone.Output}");
            }
        }
    }

    private void StartHostProcess(int member)
    {
        if (_hosts[member] is { } previous)
        {
            // A host that crashed by itself (a crash point): its record goes with it.
            previous.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        string peers = string.Join(',', _peerPorts.Select(p => $"tcp:127.0.0.1:{p}"));
        List<string> arguments =
        [
            "--Host:ListenAddress=127.0.0.1", $"--Host:Port={Ports[member]}", "--Hsm:Endpoint=unix:" + Socket(member),
            $"--Health:Port={HealthPorts[member]}", $"--Fleet:Peers={peers}", $"--Fleet:Self={member}",
            "--Hsm:ReconnectDelay=00:00:00.200", "--Hsm:MaxReconnectDelay=00:00:01",
        ];
        arguments.AddRange(_postgres is null
            ? ["--Store:Path=" + StoreLocation]
            : ["--Store:Kind=postgres", "--Store:ConnectionString=" + _postgres]);
        arguments.AddRange(_hostSettings);
        _hosts[member] = ChildProcess.Start($"host-{member}", ChildProcess.BuiltAssembly("HsmVault.Host"), arguments, _hostEnvironment?.Invoke(member, _hostStarts[member]++));
    }

    private async Task WaitUntilServingAsync(int member)
    {
        DateTime deadline = DateTime.UtcNow + StartupLimit;
        while (DateTime.UtcNow < deadline)
        {
            if (_hosts[member] is not { } host || host.HasExited)
            {
                throw new InvalidOperationException($"host {member} exited while starting:\n{_hosts[member]?.Output}");
            }

            if (await ServesAsync(member).ConfigureAwait(false))
            {
                return;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        throw new TimeoutException($"host {member} did not serve within {StartupLimit.TotalSeconds:F0} s:\n{await DescribeAsync().ConfigureAwait(false)}\n{_hosts[member]?.Output}");
    }

    private Task<bool> ServesAsync(int member) => Loopback.ServesAsync(ClientOptions(member, IdentityKsf.Instance));

    private async Task<string> HealthAsync(int member)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            HttpResponseMessage response = await http.GetAsync(new Uri($"http://127.0.0.1:{HealthPorts[member]}/health/ready")).ConfigureAwait(false);
            return await response.Content.ReadAsStringAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return "(no health answer)";
        }
    }


    [GeneratedRegex("listening on .*fleet keys in ")]
    private static partial Regex ListeningLine();
}
