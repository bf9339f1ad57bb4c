using System.Globalization;
using HsmVault.Protocol.Bridge;

namespace HsmVault.Host.Fleet;

/// <summary>
/// A fleet member's host: configuration section <c>Fleet</c>. Without <see cref="Peers"/> the host
/// serves a single HSM as before. With it, this host is member <see cref="Self"/> of the fleet the
/// peers list, in member order (the order is the configuration's, fixed at genesis).
/// </summary>
public sealed class FleetOptions
{
    public const string Section = "Fleet";

    /// <summary>The hosts' peer endpoints (<c>tcp:host:port</c>), comma-separated, in member order; empty: no fleet.</summary>
    public string Peers { get; set; } = string.Empty;

    /// <summary>This host's position in <see cref="Peers"/> (0-based). Member 0's host runs the genesis.</summary>
    public int Self { get; set; } = -1;

    /// <summary>Guesses per record, fixed at genesis into the fleet configuration (later starts ignore it).</summary>
    public int AttemptLimit { get; set; } = 10;

    /// <summary>The operator's deletion key, hex (65-byte uncompressed P-256), fixed at genesis; empty: operator deletion disabled.</summary>
    public string OperatorKey { get; set; } = string.Empty;

    /// <summary>How long a leader's lease in the store lasts without renewal; another host takes over after it lapses.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How long the leader waits for a majority's captures of an entry before answering its clients UNAVAILABLE.</summary>
    public TimeSpan CaptureTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Time to open or use a connection to a peer host.</summary>
    public TimeSpan PeerTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>True when this host is a fleet member.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Peers);

    /// <summary>The peer endpoints, parsed. Call only when <see cref="Problems"/> is empty.</summary>
    public IReadOnlyList<BridgeEndpoint> PeerEndpoints() =>
        [.. Split(Peers).Select((text, i) => BridgeEndpoint.Parse(text, $"Fleet:Peers[{i}]"))];

    /// <summary>The operator key's bytes, or null. Call only when <see cref="Problems"/> is empty.</summary>
    public byte[]? OperatorKeyBytes() => string.IsNullOrWhiteSpace(OperatorKey) ? null : Convert.FromHexString(OperatorKey.Trim());

    /// <summary>The problems with these settings, each naming the option; empty when valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        List<string> problems = [];
        if (!Enabled)
        {
            return problems;
        }

        string[] peers = Split(Peers);
        for (int i = 0; i < peers.Length; i++)
        {
            if (!BridgeEndpoint.TryParse(peers[i], out _, out string? error))
            {
                problems.Add($"Fleet:Peers[{i}]: {error}");
            }
        }

        if (peers.Length is < 1 or > 15)
        {
            problems.Add($"Fleet:Peers: {peers.Length} members; a fleet has 1 to 15");
        }

        if (Self < 0 || Self >= peers.Length)
        {
            problems.Add($"Fleet:Self: {Self.ToString(CultureInfo.InvariantCulture)}, must be this host's position in Fleet:Peers (0 to {peers.Length - 1})");
        }

        if (AttemptLimit is < 1 or > 1000)
        {
            problems.Add($"Fleet:AttemptLimit: {AttemptLimit.ToString(CultureInfo.InvariantCulture)}, must be 1 to 1000");
        }

        if (!string.IsNullOrWhiteSpace(OperatorKey))
        {
            string hex = OperatorKey.Trim();
            if (hex.Length != 130 || !hex.StartsWith("04", StringComparison.Ordinal) || !hex.All(Uri.IsHexDigit))
            {
                problems.Add("Fleet:OperatorKey: expected 130 hex digits, an uncompressed P-256 point starting 04");
            }
        }

        Positive(problems, "Fleet:LeaseDuration", LeaseDuration);
        Positive(problems, "Fleet:CaptureTimeout", CaptureTimeout);
        Positive(problems, "Fleet:PeerTimeout", PeerTimeout);
        return problems;
    }

    private static void Positive(List<string> problems, string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            problems.Add($"{name}: {value}, must be positive");
        }
    }

    private static string[] Split(string text) => text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
}
