using System.Security.Cryptography.X509Certificates;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Client;

/// <summary>
/// Where the vault is and what the client trusts: a pinned <see cref="FleetKeys"/>, or
/// <see cref="OverTheAir"/> (fleets accepted from validation bundles the host relays), or both
/// (the pinned set first, then whatever newer fleet a bundle proves). Every request is sealed to
/// the trusted fleet's channel key, so only that fleet can read a request or answer it.
/// </summary>
/// <param name="Host">Vault host name or IP address.</param>
/// <param name="Port">Vault host client port (the host's default is 7300).</param>
/// <param name="FleetKeys">The pinned fleet-key set (channel key and OPAQUE AKE key); may be null with <see cref="OverTheAir"/>.</param>
public sealed record VaultClientOptions(string Host, int Port, FleetKeySet? FleetKeys)
{
    /// <summary>The host's default client port.</summary>
    public const int DefaultPort = 7300;

    /// <summary>
    /// Accept fleets over the air: the client asks the host which fleet it serves and checks the
    /// validation bundle against these pins before it seals anything to it; when a request does not
    /// open (the fleet was rotated) it checks the bundle the host attaches and, if a newer fleet is
    /// proven, seals the request again to it. Null: the pinned <see cref="FleetKeys"/> only.
    /// </summary>
    public Transparency.OverTheAirFleet? OverTheAir { get; init; }

    /// <summary>
    /// More hosts of the same fleet, tried in order after <see cref="Host"/> when a connection cannot
    /// be opened: the client connects to the first that answers and stays there. A connection that
    /// fails before the request is sent moves on at once (nothing was sent, so nothing can be
    /// counted twice). A request whose answer is lost after it was sent, or that the host answers
    /// UNAVAILABLE, BUSY or INTERNAL in the clear, is not resent: its outcome is
    /// <see cref="Unavailable"/>, and the next request starts at the next host. (A login's first
    /// step counts a guess when the fleet runs it; resending one whose answer was lost could count
    /// two guesses for one attempt, and a hostile host could use that to spend a user's attempts.)
    /// Every host is held to the same trusted fleet: a host of another fleet cannot open what is
    /// sealed, whichever position it has in the list.
    /// </summary>
    public IReadOnlyList<VaultHostAddress> FailoverHosts { get; init; } = [];

    /// <summary>Wrap the connection in TLS.</summary>
    public bool UseTls { get; init; }

    /// <summary>The name the TLS certificate must carry; defaults to <see cref="Host"/>.</summary>
    public string? TlsServerName { get; init; }

    /// <summary>
    /// When set, the server certificate must be this certificate (a pin) or chain to it (a private
    /// CA) instead of the system trust store.
    /// </summary>
    public X509Certificate2? TlsTrustedCertificate { get; init; }

    /// <summary>How long opening the connection (TCP and TLS) may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one request may wait for its answer.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The key-stretching function. The default is Argon2id with RFC 9106's second recommended
    /// parameters (t=3, p=4, 64 MiB); it must be the same at registration and recovery.
    /// </summary>
    public IKeyStretchingFunction Ksf { get; init; } = Argon2idKsf.SecondRecommended;

    /// <summary>The OPAQUE context string; it must equal the fleet policy's (default "HsmVault-v1").</summary>
    public string OpaqueContext { get; init; } = "HsmVault-v1";

    /// <summary>Receives the slow steps as they start; may be null.</summary>
    public IProgress<VaultProgress>? Progress { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host))
        {
            throw new ArgumentException("Host: must not be empty", nameof(Host));
        }

        if (Port is < 1 or > 65535)
        {
            throw new ArgumentException($"Port: {Port}, must be between 1 and 65535", nameof(Port));
        }

        ArgumentNullException.ThrowIfNull(FailoverHosts, nameof(FailoverHosts));
        for (int i = 0; i < FailoverHosts.Count; i++)
        {
            if (FailoverHosts[i] is not { } failover || string.IsNullOrWhiteSpace(failover.Host))
            {
                throw new ArgumentException($"FailoverHosts[{i}]: the host must not be empty", nameof(FailoverHosts));
            }

            if (failover.Port is < 1 or > 65535)
            {
                throw new ArgumentException($"FailoverHosts[{i}]: port {failover.Port}, must be between 1 and 65535", nameof(FailoverHosts));
            }
        }

        if (FleetKeys is null && OverTheAir is null)
        {
            throw new ArgumentException("FleetKeys: required unless OverTheAir is set (the client must trust a fleet: pinned, or over the air)", nameof(FleetKeys));
        }

        ArgumentNullException.ThrowIfNull(Ksf, nameof(Ksf));
        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"ConnectTimeout: {ConnectTimeout}, must be positive", nameof(ConnectTimeout));
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"RequestTimeout: {RequestTimeout}, must be positive", nameof(RequestTimeout));
        }

        if (string.IsNullOrEmpty(OpaqueContext))
        {
            throw new ArgumentException("OpaqueContext: must not be empty", nameof(OpaqueContext));
        }
    }
}

/// <summary>One vault host's address: a host name or IP address and its client port.</summary>
public sealed record VaultHostAddress(string Host, int Port)
{
    /// <inheritdoc />
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
