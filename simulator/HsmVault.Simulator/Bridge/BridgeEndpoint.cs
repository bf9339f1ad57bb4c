using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HsmVault.Simulator.Bridge;

/// <summary>
/// Where the bridge listens: <c>unix:/path/to/socket</c> or <c>tcp:127.0.0.1:7301</c>.
/// The HSM bridge carries secrets only in sealed form, but it is still meant for the local
/// machine: a TCP endpoint must be a loopback address.
/// </summary>
public sealed record BridgeEndpoint(EndPoint EndPoint, string Display)
{
    public static BridgeEndpoint Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            string path = text["unix:".Length..];
            if (path.Length == 0)
            {
                throw new FormatException("--listen: 'unix:' needs a socket path, e.g. unix:/run/hsmvault/hsm.sock.");
            }

            return new BridgeEndpoint(new UnixDomainSocketEndPoint(path), text);
        }

        if (text.StartsWith("tcp:", StringComparison.Ordinal))
        {
            string rest = text["tcp:".Length..];
            int colon = rest.LastIndexOf(':');
            if (colon <= 0
                || !IPAddress.TryParse(rest[..colon].Trim('[', ']'), out IPAddress? address)
                || !int.TryParse(rest[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port)
                || port is < 0 or > 65535)
            {
                throw new FormatException($"--listen: '{text}' is not tcp:<ip>:<port>, e.g. tcp:127.0.0.1:7301.");
            }

            if (!IPAddress.IsLoopback(address))
            {
                throw new FormatException($"--listen: {address} is not a loopback address; the HSM bridge only listens on this machine.");
            }

            return new BridgeEndpoint(new IPEndPoint(address, port), text);
        }

        throw new FormatException($"--listen: '{text}' must start with 'unix:' or 'tcp:'.");
    }

    /// <summary>Creates a socket of the right family for this endpoint.</summary>
    public Socket CreateSocket() => EndPoint is UnixDomainSocketEndPoint
        ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
        : new Socket(EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
}
