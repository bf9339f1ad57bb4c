using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HsmVault.Protocol.Bridge;

/// <summary>
/// An address of the HSM bridge, <c>unix:/path/to/socket</c> or <c>tcp:host:port</c>: the host
/// connects to one, the simulator listens on one. The bridge carries secrets only in sealed form,
/// but it is still meant for the local machine, so a listener must be a Unix socket or a loopback
/// IP address (<see cref="TryParseListener"/>).
/// </summary>
public sealed record BridgeEndpoint(EndPoint EndPoint, string Display)
{
    private const string UnixPrefix = "unix:";
    private const string TcpPrefix = "tcp:";

    /// <summary>The socket file's path for a <c>unix:</c> endpoint; null for TCP.</summary>
    public string? UnixSocketPath => EndPoint is UnixDomainSocketEndPoint ? Display[UnixPrefix.Length..] : null;

    /// <summary>Parses an endpoint to connect to; on failure <paramref name="error"/> says what is wrong with <paramref name="text"/>.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out BridgeEndpoint? endpoint, [NotNullWhen(false)] out string? error)
    {
        endpoint = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "missing; give unix:/path/to/socket or tcp:127.0.0.1:7301";
            return false;
        }

        if (text.StartsWith(UnixPrefix, StringComparison.Ordinal))
        {
            if (text.Length == UnixPrefix.Length)
            {
                error = "'unix:' needs a socket path, e.g. unix:/run/hsmvault/hsm.sock";
                return false;
            }

            try
            {
                endpoint = new BridgeEndpoint(new UnixDomainSocketEndPoint(text[UnixPrefix.Length..]), text);
            }
            catch (ArgumentException ex)
            {
                // The platform refuses the path, typically because it is longer than a socket address holds.
                error = $"'{text}' is not a usable socket path: {ex.Message}";
                return false;
            }

            error = null;
            return true;
        }

        if (!text.StartsWith(TcpPrefix, StringComparison.Ordinal))
        {
            error = $"'{text}' must start with 'unix:' or 'tcp:'";
            return false;
        }

        string rest = text[TcpPrefix.Length..];
        int colon = rest.LastIndexOf(':');
        if (colon <= 0)
        {
            error = $"'{text}' is not tcp:<host>:<port>, e.g. tcp:127.0.0.1:7301";
            return false;
        }

        string portText = rest[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
        {
            error = $"'{text}': the port '{portText}' is not a number in 1..65535";
            return false;
        }

        string host = rest[..colon].Trim('[', ']');
        if (IPAddress.TryParse(host, out IPAddress? address))
        {
            endpoint = new BridgeEndpoint(new IPEndPoint(address, port), text);
        }
        else if (Uri.CheckHostName(host) == UriHostNameType.Dns)
        {
            endpoint = new BridgeEndpoint(new DnsEndPoint(host, port), text);
        }
        else
        {
            error = $"'{text}': '{host}' is neither an IP address nor a host name";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>
    /// Parses an endpoint to listen on: as <see cref="TryParse"/>, and a TCP endpoint must be a
    /// loopback IP address, because the bridge only serves this machine.
    /// </summary>
    public static bool TryParseListener(string? text, [NotNullWhen(true)] out BridgeEndpoint? endpoint, [NotNullWhen(false)] out string? error)
    {
        if (!TryParse(text, out endpoint, out error))
        {
            return false;
        }

        switch (endpoint.EndPoint)
        {
            case DnsEndPoint named:
                error = $"'{text}': a listener needs an IP address, not the host name '{named.Host}', e.g. tcp:127.0.0.1:7301";
                break;
            case IPEndPoint ip when !IPAddress.IsLoopback(ip.Address):
                error = $"{ip.Address} is not a loopback address; the HSM bridge only listens on this machine";
                break;
            default:
                return true;
        }

        endpoint = null;
        return false;
    }

    /// <summary>Parses an endpoint to connect to, or throws a <see cref="FormatException"/> that names <paramref name="field"/> and the problem.</summary>
    public static BridgeEndpoint Parse(string? text, string field) =>
        TryParse(text, out BridgeEndpoint? endpoint, out string? error) ? endpoint : throw new FormatException($"{field}: {error}");

    /// <summary>Parses an endpoint to listen on, or throws a <see cref="FormatException"/> that names <paramref name="field"/> and the problem.</summary>
    public static BridgeEndpoint ParseListener(string? text, string field) =>
        TryParseListener(text, out BridgeEndpoint? endpoint, out string? error) ? endpoint : throw new FormatException($"{field}: {error}");

    /// <summary>Creates an unconnected, unbound socket of the right family.</summary>
    public Socket CreateSocket() => EndPoint switch
    {
        UnixDomainSocketEndPoint => new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified),
        IPEndPoint ip => new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp),
        // A host name may resolve to IPv4 or IPv6: a dual-mode socket takes either.
        _ => new Socket(SocketType.Stream, ProtocolType.Tcp),
    };
}
