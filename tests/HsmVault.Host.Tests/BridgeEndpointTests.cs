using System.Net;
using System.Net.Sockets;
using HsmVault.Protocol.Bridge;

namespace HsmVault.Host.Tests;

/// <summary>The bridge endpoint parser shared by the host (connects) and the simulator (listens).</summary>
[TestClass]
public sealed class BridgeEndpointTests
{
    [TestMethod]
    public void A_unix_endpoint_is_a_socket_path_and_displays_as_written()
    {
        Assert.IsTrue(BridgeEndpoint.TryParse("unix:/run/hsmvault/hsm.sock", out BridgeEndpoint? endpoint, out string? error), error);

        Assert.IsInstanceOfType<UnixDomainSocketEndPoint>(endpoint.EndPoint);
        Assert.AreEqual("/run/hsmvault/hsm.sock", endpoint.UnixSocketPath);
        Assert.AreEqual("unix:/run/hsmvault/hsm.sock", endpoint.Display);
        using Socket socket = endpoint.CreateSocket();
        Assert.AreEqual(AddressFamily.Unix, socket.AddressFamily);
    }

    [TestMethod]
    [DataRow("tcp:127.0.0.1:7301", "127.0.0.1", 7301)]
    [DataRow("tcp:[::1]:1", "::1", 1)]
    [DataRow("tcp:::1:65535", "::1", 65535)]
    public void A_tcp_endpoint_with_an_ip_address_is_an_ip_endpoint(string text, string address, int port)
    {
        Assert.IsTrue(BridgeEndpoint.TryParse(text, out BridgeEndpoint? endpoint, out string? error), error);

        Assert.AreEqual(new IPEndPoint(IPAddress.Parse(address), port), endpoint.EndPoint);
        Assert.IsNull(endpoint.UnixSocketPath);
        using Socket socket = endpoint.CreateSocket();
        Assert.AreEqual(IPAddress.Parse(address).AddressFamily, socket.AddressFamily);
    }

    [TestMethod]
    public void A_host_to_connect_to_may_be_named()
    {
        Assert.IsTrue(BridgeEndpoint.TryParse("tcp:hsm-bridge.internal:7301", out BridgeEndpoint? endpoint, out string? error), error);

        Assert.AreEqual(new DnsEndPoint("hsm-bridge.internal", 7301), endpoint.EndPoint);
        using Socket socket = endpoint.CreateSocket();
        Assert.IsTrue(socket.DualMode, "a name may resolve to IPv4 or IPv6");
    }

    [TestMethod]
    [DataRow(null, "missing")]
    [DataRow("  ", "missing")]
    [DataRow("unix:", "needs a socket path")]
    [DataRow("http://hsm", "must start with 'unix:' or 'tcp:'")]
    [DataRow("UNIX:/run/hsm.sock", "must start with 'unix:' or 'tcp:'")]
    [DataRow("tcp:127.0.0.1", "tcp:<host>:<port>")]
    [DataRow("tcp::7301", "tcp:<host>:<port>")]
    [DataRow("tcp:127.0.0.1:", "the port '' is not a number in 1..65535")]
    [DataRow("tcp:127.0.0.1:0", "the port '0' is not a number in 1..65535")]
    [DataRow("tcp:127.0.0.1:65536", "the port '65536' is not a number in 1..65535")]
    [DataRow("tcp:127.0.0.1:+80", "the port '+80' is not a number in 1..65535")]
    [DataRow("tcp:127.0.0.1: 80", "the port ' 80' is not a number in 1..65535")]
    [DataRow("tcp:bad host:7301", "'bad host' is neither an IP address nor a host name")]
    public void A_malformed_endpoint_is_refused_with_what_is_wrong(string? text, string expected)
    {
        Assert.IsFalse(BridgeEndpoint.TryParse(text, out BridgeEndpoint? endpoint, out string? error));

        Assert.IsNull(endpoint);
        StringAssert.Contains(error, expected);
    }

    [TestMethod]
    public void A_socket_path_too_long_for_the_platform_is_refused_not_thrown()
    {
        string text = "unix:/" + new string('s', 4096);

        Assert.IsFalse(BridgeEndpoint.TryParse(text, out _, out string? error));

        StringAssert.Contains(error, "is not a usable socket path");
    }

    [TestMethod]
    [DataRow("unix:/run/hsmvault/hsm.sock")]
    [DataRow("tcp:127.0.0.1:7301")]
    [DataRow("tcp:127.1.2.3:7301")]
    [DataRow("tcp:[::1]:7301")]
    public void A_listener_on_this_machine_is_accepted(string text)
    {
        Assert.IsTrue(BridgeEndpoint.TryParseListener(text, out BridgeEndpoint? endpoint, out string? error), error);
        Assert.AreEqual(text, endpoint.Display);
    }

    [TestMethod]
    [DataRow("tcp:10.0.0.1:7301", "10.0.0.1 is not a loopback address; the HSM bridge only listens on this machine")]
    [DataRow("tcp:0.0.0.0:7301", "0.0.0.0 is not a loopback address")]
    [DataRow("tcp:[::]:7301", ":: is not a loopback address")]
    [DataRow("tcp:localhost:7301", "a listener needs an IP address, not the host name 'localhost'")]
    [DataRow("tcp:127.0.0.1", "tcp:<host>:<port>")]
    public void A_listener_off_this_machine_or_by_name_is_refused(string text, string expected)
    {
        Assert.IsFalse(BridgeEndpoint.TryParseListener(text, out BridgeEndpoint? endpoint, out string? error));

        Assert.IsNull(endpoint);
        StringAssert.Contains(error, expected);
    }

    [TestMethod]
    public void Parse_names_the_field_in_its_format_exception()
    {
        var connect = Assert.ThrowsExactly<FormatException>(() => BridgeEndpoint.Parse("tcp:127.0.0.1", "Hsm:Endpoint"));
        var listen = Assert.ThrowsExactly<FormatException>(() => BridgeEndpoint.ParseListener("tcp:10.0.0.1:7301", "--listen"));

        Assert.AreEqual("Hsm:Endpoint: 'tcp:127.0.0.1' is not tcp:<host>:<port>, e.g. tcp:127.0.0.1:7301", connect.Message);
        StringAssert.StartsWith(listen.Message, "--listen: 10.0.0.1 is not a loopback address");
        Assert.AreEqual(new IPEndPoint(IPAddress.Loopback, 7301), BridgeEndpoint.ParseListener("tcp:127.0.0.1:7301", "--listen").EndPoint);
    }
}
