using System.Net;
using System.Net.Sockets;
using System.Text;
using HsmVault.Crypto.Opaque;

namespace HsmVault.Client.Tests;

/// <summary>Client options and inputs shared by the tests; the identity KSF keeps them fast.</summary>
internal static class TestClients
{
    public static VaultClientOptions OptionsFor(FakeVault vault, IKeyStretchingFunction? ksf = null) =>
        new("127.0.0.1", vault.Port, vault.FleetKeys)
        {
            Ksf = ksf ?? IdentityKsf.Instance,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            RequestTimeout = TimeSpan.FromSeconds(10),
        };

    public static VaultClient For(FakeVault vault, IKeyStretchingFunction? ksf = null) => new(OptionsFor(vault, ksf));

    public static byte[] Password(string text) => Encoding.UTF8.GetBytes(text);

    public static byte[] Key(byte fill) => Enumerable.Repeat(fill, 32).ToArray();

    /// <summary>A loopback port with nothing listening on it.</summary>
    public static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
