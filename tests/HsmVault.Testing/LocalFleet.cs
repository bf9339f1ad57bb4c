using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Testing;

/// <summary>
/// A one-site vault made of real processes: the simulator serving a SoftHSM2 token of its own on a
/// Unix socket, and the host on a loopback TCP port with its SQLite store, all under one temporary
/// state directory that disposal deletes. Either process can be killed and started again over the
/// same state, which is how the tests prove restarts lose nothing.
/// </summary>
public sealed partial class LocalFleet : IAsyncDisposable
{
    private static readonly TimeSpan StartupLimit = TimeSpan.FromSeconds(60);

    private readonly string _socket;
    private readonly string _tokenLabel;
    private readonly IReadOnlyList<string> _hostSettings;
    private readonly string _hsmFolder;
    private readonly bool _ownsState;
    private FleetKeySet? _fleetKeys;

    private LocalFleet(string stateDirectory, string tokenLabel, IReadOnlyList<string> hostSettings, string hsmFolder = "hsm", bool ownsState = true)
    {
        StateDirectory = stateDirectory;
        _hsmFolder = hsmFolder;
        _ownsState = ownsState;
        _socket = Path.Combine(stateDirectory, "hsm.sock");
        _tokenLabel = tokenLabel;
        _hostSettings = hostSettings;
        Port = Loopback.FreePort();
        HealthPort = Loopback.FreePort();
    }

    /// <summary>Everything the two processes keep: token store, socket, host database.</summary>
    public string StateDirectory { get; }

    /// <summary>The host's client port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The host's health and metrics port on 127.0.0.1 (<c>GET /health</c>, <c>GET /metrics</c>).</summary>
    public int HealthPort { get; }

    /// <summary>The fleet-key set the simulator wrote; clients pin it.</summary>
    public FleetKeySet FleetKeys => _fleetKeys ?? throw new InvalidOperationException("the simulator has not started");

    /// <summary>Where the simulator wrote the fleet-key set (what the CLI's --fleet-key takes).</summary>
    public string FleetKeysPath => Path.Combine(StateDirectory, _hsmFolder, "fleet-keys.json");

    /// <summary>The running simulator process (replaced by <see cref="StartSimulatorAsync"/>).</summary>
    public ChildProcess? Simulator { get; private set; }

    /// <summary>The running host process (replaced by <see cref="StartHostAsync"/>).</summary>
    public ChildProcess? Host { get; private set; }

    /// <summary>
    /// Starts a simulator on a fresh token and a host in front of it, and returns once the host
    /// answers a status query. <paramref name="hostSettings"/> are extra <c>--Section:Option=value</c>
    /// arguments for the host.
    /// </summary>
    public static async Task<LocalFleet> StartAsync(string tokenLabel = "hsmvault-local", IReadOnlyList<string>? hostSettings = null)
    {
        string state = Directory.CreateTempSubdirectory("hsmvault-fleet-").FullName;
        return await LaunchAsync(new LocalFleet(state, tokenLabel, hostSettings ?? [])).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts the two processes over state that already exists and is kept on disposal: the simulator
    /// on the token in <c>stateDirectory/hsmFolder</c>, the host on <c>stateDirectory/host.db</c> unless
    /// <paramref name="hostSettings"/> name another store. For vaults prepared beforehand (benchmarks).
    /// </summary>
    public static Task<LocalFleet> OpenAsync(string stateDirectory, string hsmFolder, string tokenLabel, IReadOnlyList<string>? hostSettings = null)
    {
        return LaunchAsync(new LocalFleet(stateDirectory, tokenLabel, hostSettings ?? [], hsmFolder, ownsState: false));
    }

    private static async Task<LocalFleet> LaunchAsync(LocalFleet fleet)
    {
        try
        {
            await fleet.StartSimulatorAsync().ConfigureAwait(false);
            await fleet.StartHostAsync().ConfigureAwait(false);
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Client settings for this fleet: loopback, its port, its fleet key pinned.</summary>
    public VaultClientOptions ClientOptions(IKeyStretchingFunction ksf) => new("127.0.0.1", Port, FleetKeys) { Ksf = ksf };

    /// <summary>
    /// Starts the simulator over the state directory's token store (provisioning the token the
    /// first time) and waits for its key announcement. A restarted simulator must announce the same
    /// fleet key as before, or the start fails.
    /// </summary>
    public async Task StartSimulatorAsync()
    {
        string hsm = Path.Combine(StateDirectory, _hsmFolder);
        Simulator = ChildProcess.Start(
            "simulator",
            ChildProcess.BuiltAssembly("HsmVault.Simulator"),
            ["serve", "--listen", "unix:" + _socket, "--state-dir", hsm, "--token-label", _tokenLabel],
            new Dictionary<string, string> { ["SOFTHSM2_CONF"] = Path.Combine(hsm, "softhsm2.conf") });
        await Simulator.WaitForAsync(ListeningLine(), StartupLimit).ConfigureAwait(false);
        FleetKeySet keys = FleetKeySet.Load(FleetKeysPath);
        if (_fleetKeys is not null && !keys.Digest.AsSpan().SequenceEqual(_fleetKeys.Digest))
        {
            throw new InvalidOperationException($"the simulator came back with other fleet keys:\n{Simulator.Output}");
        }

        _fleetKeys = keys;
    }

    /// <summary>
    /// Starts the host over the state directory's store and waits until it serves: the port opens
    /// before the host has checked its store against the enclave, so readiness is a status query
    /// that is answered (not UNAVAILABLE).
    /// </summary>
    public async Task StartHostAsync()
    {
        List<string> arguments =
        [
            "--Host:ListenAddress=127.0.0.1", $"--Host:Port={Port}", "--Hsm:Endpoint=unix:" + _socket,
            "--Store:Path=" + Path.Combine(StateDirectory, "host.db"), $"--Health:Port={HealthPort}",
        ];
        arguments.AddRange(_hostSettings);
        ChildProcess host = ChildProcess.Start("host", ChildProcess.BuiltAssembly("HsmVault.Host"), arguments);
        Host = host;
        DateTime deadline = DateTime.UtcNow + StartupLimit;
        while (DateTime.UtcNow < deadline)
        {
            if (host.HasExited)
            {
                throw new InvalidOperationException("the host exited while starting:\n" + host.Output);
            }

            if (await ServesAsync().ConfigureAwait(false))
            {
                return;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        throw new TimeoutException($"the host did not serve within {StartupLimit.TotalSeconds:F0} s:\n{host.Output}");
    }

    public async ValueTask DisposeAsync()
    {
        if (Host is not null)
        {
            await Host.DisposeAsync().ConfigureAwait(false);
        }

        if (Simulator is not null)
        {
            await Simulator.DisposeAsync().ConfigureAwait(false);
        }

        if (!_ownsState)
        {
            return;
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

    private Task<bool> ServesAsync() => Loopback.ServesAsync(ClientOptions(IdentityKsf.Instance));

    [GeneratedRegex("listening on .*fleet keys in ")]
    private static partial Regex ListeningLine();
}
