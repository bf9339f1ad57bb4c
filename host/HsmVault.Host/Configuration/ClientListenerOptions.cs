using System.Net;

namespace HsmVault.Host.Configuration;

/// <summary>The client listener's settings: configuration section <c>Host</c>.</summary>
public sealed class ClientListenerOptions
{
    public const string Section = "Host";

    /// <summary>IP address the client listener binds.</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>TCP port of the client listener; 0 picks a free port (tests).</summary>
    public int Port { get; set; } = 7300;

    /// <summary>Largest client frame payload accepted; larger frames get TOO_LARGE and the connection is closed.</summary>
    public int MaxFrameBytes { get; set; } = 16 * 1024;

    /// <summary>Longest user id accepted, in bytes.</summary>
    public int MaxUserIdBytes { get; set; } = 256;

    /// <summary>Time a started frame (or the TLS handshake) has to arrive completely.</summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Time a connection may sit between requests before it is closed.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Time a response write may take before the connection is dropped.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Open client connections; more are answered BUSY and closed.</summary>
    public int MaxConnections { get; set; } = 1000;

    /// <summary>Requests inside the pipeline at once, over all connections; more are answered BUSY.</summary>
    public int MaxInFlightRequests { get; set; } = 256;

    /// <summary>How long shutdown waits for in-flight requests to be answered.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Server certificate for TLS: a PFX/PKCS#12 file, or a PEM certificate (with <see cref="TlsKeyPath"/>). Unset: plain TCP.</summary>
    public string? TlsCertificatePath { get; set; }

    /// <summary>PEM private key for a PEM certificate; unset when the PEM or PFX file holds the key.</summary>
    public string? TlsKeyPath { get; set; }

    /// <summary>Password of the PFX file or encrypted PEM key.</summary>
    public string? TlsCertificatePassword { get; set; }

    /// <summary>The problems with these settings, each naming the option; empty when valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        List<string> problems = [];
        if (!IPAddress.TryParse(ListenAddress, out _))
        {
            problems.Add($"Host:ListenAddress: '{ListenAddress}' is not an IP address");
        }

        if (Port is < 0 or > 65535)
        {
            problems.Add($"Host:Port: {Port} is not a TCP port (0-65535)");
        }

        if (MaxFrameBytes is < 256 or > 16 * 1024 * 1024)
        {
            problems.Add($"Host:MaxFrameBytes: {MaxFrameBytes}, must be between 256 and 16777216");
        }

        if (MaxUserIdBytes < 1)
        {
            problems.Add($"Host:MaxUserIdBytes: {MaxUserIdBytes}, must be positive");
        }

        RequirePositive(problems, "Host:ReadTimeout", ReadTimeout);
        RequirePositive(problems, "Host:IdleTimeout", IdleTimeout);
        RequirePositive(problems, "Host:WriteTimeout", WriteTimeout);
        RequirePositive(problems, "Host:DrainTimeout", DrainTimeout);
        if (MaxConnections < 1)
        {
            problems.Add($"Host:MaxConnections: {MaxConnections}, must be positive");
        }

        if (MaxInFlightRequests < 1)
        {
            problems.Add($"Host:MaxInFlightRequests: {MaxInFlightRequests}, must be positive");
        }

        if (TlsCertificatePath is { Length: > 0 } && !File.Exists(TlsCertificatePath))
        {
            problems.Add($"Host:TlsCertificatePath: '{TlsCertificatePath}' does not exist");
        }

        if (TlsKeyPath is { Length: > 0 } && !File.Exists(TlsKeyPath))
        {
            problems.Add($"Host:TlsKeyPath: '{TlsKeyPath}' does not exist");
        }

        return problems;
    }

    internal static void RequirePositive(List<string> problems, string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            problems.Add($"{name}: {value}, must be positive (format hh:mm:ss)");
        }
    }
}
