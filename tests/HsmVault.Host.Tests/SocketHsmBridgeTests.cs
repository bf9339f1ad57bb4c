using System.Net;
using System.Net.Sockets;
using HsmVault.Host.Bridge;
using HsmVault.Host.Configuration;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace HsmVault.Host.Tests;

[TestClass]
public sealed class SocketHsmBridgeTests
{
    [TestMethod]
    public async Task A_request_over_a_unix_socket_gets_the_bridge_response()
    {
        using var directory = new TempDirectory();
        string path = directory.File("hsm.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(4);
        Task server = ServeAsync(listener, _ => new EnclaveResponse { State = new StateReport { LogIndex = 42 } }, requests: 1);
        await using var bridge = Bridge($"unix:{path}");

        EnclaveResponse response = await bridge.SendAsync(new EnclaveRequest { State = new StateQuery() }, CancellationToken.None);

        Assert.AreEqual(42UL, response.State.LogIndex);
        await server;
    }

    [TestMethod]
    public async Task A_bridge_that_never_answers_is_reported_unavailable_after_the_request_timeout()
    {
        using var listener = Loopback(out int port);
        Task<Socket> accept = listener.AcceptAsync();
        await using var bridge = Bridge($"tcp:127.0.0.1:{port}", TimeSpan.FromMilliseconds(300));

        var started = DateTime.UtcNow;
        HsmUnavailableException ex = await Assert.ThrowsExactlyAsync<HsmUnavailableException>(
            () => bridge.SendAsync(new EnclaveRequest { State = new StateQuery() }, CancellationToken.None));

        StringAssert.Contains(ex.Message, "no response within");
        Assert.IsTrue(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
        (await accept).Dispose();
    }

    [TestMethod]
    public async Task A_bridge_that_answers_garbage_is_reported_unavailable_and_the_next_request_reconnects()
    {
        using var listener = Loopback(out int port);
        await using var bridge = Bridge($"tcp:127.0.0.1:{port}");
        Task garbage = Task.Run(async () =>
        {
            using Socket socket = await listener.AcceptAsync();
            await using var stream = new NetworkStream(socket);
            await new FrameCodec().ReadPayloadAsync(stream);
            await new FrameCodec().WritePayloadAsync(stream, new byte[] { 0xFF, 0xFF, 0xFF });
        });

        await Assert.ThrowsExactlyAsync<HsmUnavailableException>(
            () => bridge.SendAsync(new EnclaveRequest { State = new StateQuery() }, CancellationToken.None));
        await garbage;
        Task good = ServeAsync(listener, _ => new EnclaveResponse { State = new StateReport { LogIndex = 7 } }, requests: 1);
        EnclaveResponse response = await bridge.SendAsync(new EnclaveRequest { State = new StateQuery() }, CancellationToken.None);

        Assert.AreEqual(7UL, response.State.LogIndex);
        await good;
    }

    [TestMethod]
    public async Task Nothing_listening_is_reported_unavailable()
    {
        int port;
        using (Socket closed = Loopback(out port))
        {
        }

        await using var bridge = Bridge($"tcp:127.0.0.1:{port}");

        HsmUnavailableException ex = await Assert.ThrowsExactlyAsync<HsmUnavailableException>(
            () => bridge.SendAsync(new EnclaveRequest { State = new StateQuery() }, CancellationToken.None));
        StringAssert.Contains(ex.Message, "cannot connect");
    }

    private static SocketHsmBridge Bridge(string endpoint, TimeSpan? timeout = null) => new(
        new HsmOptions { Endpoint = endpoint, RequestTimeout = timeout ?? TimeSpan.FromSeconds(5), ConnectTimeout = TimeSpan.FromSeconds(2) },
        NullLogger<SocketHsmBridge>.Instance);

    private static Socket Loopback(out int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen(4);
        port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        return socket;
    }

    private static async Task ServeAsync(Socket listener, Func<EnclaveRequest, EnclaveResponse> handle, int requests)
    {
        using Socket socket = await listener.AcceptAsync();
        await using var stream = new NetworkStream(socket);
        var codec = new FrameCodec();
        for (int i = 0; i < requests; i++)
        {
            EnclaveRequest request = (await codec.ReadAsync(stream, EnclaveRequest.Parser))!;
            await codec.WriteAsync(stream, handle(request));
        }
    }
}
