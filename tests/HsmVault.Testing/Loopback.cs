using System.Net;
using System.Net.Sockets;
using HsmVault.Client;

namespace HsmVault.Testing;

/// <summary>What every test harness that starts a vault on this machine needs from loopback.</summary>
public static class Loopback
{
    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).</summary>
    public static int FreePort()
    {
        using TcpListener listener = new(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Whether the vault at <paramref name="options"/> serves: its port may open before it has checked
    /// its HSM, so readiness is a status query that is answered (not UNAVAILABLE).
    /// </summary>
    public static async Task<bool> ServesAsync(VaultClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            await using VaultClient client = new(options with { RequestTimeout = TimeSpan.FromSeconds(5) });
            return await client.StatusAsync("readiness-probe").ConfigureAwait(false) is not Unavailable;
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return false;
        }
    }
}
