using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HsmVault.Host.Bridge;

/// <summary>Where the HSM bridge listens: <c>unix:/path/to/socket</c> or <c>tcp:host:port</c>.</summary>
public sealed record HsmEndpoint(EndPoint EndPoint, string Display)
{
    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says what is wrong.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out HsmEndpoint? endpoint, [NotNullWhen(false)] out string? error)
    {
        endpoint = null;
        error = null;
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            string path = text["unix:".Length..];
            if (path.Length == 0)
            {
                error = "'unix:' needs a socket path, e.g. unix:/run/hsmvault/hsm.sock";
                return false;
            }

            endpoint = new HsmEndpoint(new UnixDomainSocketEndPoint(path), text);
            return true;
        }

        if (text.StartsWith("tcp:", StringComparison.Ordinal))
        {
            string rest = text["tcp:".Length..];
            int colon = rest.LastIndexOf(':');
            if (colon <= 0
                || !int.TryParse(rest[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port)
                || port is < 1 or > 65535)
            {
                error = $"'{text}' is not tcp:<host>:<port>, e.g. tcp:127.0.0.1:7301";
                return false;
            }

            string host = rest[..colon].Trim('[', ']');
            endpoint = IPAddress.TryParse(host, out IPAddress? address)
                ? new HsmEndpoint(new IPEndPoint(address, port), text)
                : new HsmEndpoint(new DnsEndPoint(host, port), text);
            return true;
        }

        error = $"'{text}' must start with 'unix:' or 'tcp:'";
        return false;
    }

    /// <summary>Parses <paramref name="text"/> or throws <see cref="FormatException"/> naming the problem.</summary>
    public static HsmEndpoint Parse(string text) =>
        TryParse(text, out HsmEndpoint? endpoint, out string? error) ? endpoint : throw new FormatException($"Hsm:Endpoint: {error}");

    /// <summary>Creates an unconnected socket of the right family.</summary>
    public Socket CreateSocket() => EndPoint is UnixDomainSocketEndPoint
        ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
        : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
}
