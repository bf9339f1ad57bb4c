using System.Net;
using System.Net.Sockets;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Hpke;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.Fleet;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Client.Tests;

[TestClass]
public sealed class MisbehavingServerTests
{
    private static readonly FleetKeySet AnyKey = FleetKeySet.Create("any", P256HpkeKeyPair.Derive("any fleet"u8).PublicKey, P256Group.Generator);

    [TestMethod]
    public async Task An_answer_to_another_request_id_is_a_protocol_error()
    {
        VaultOutcome outcome = await StatusAgainstAsync(async stream =>
        {
            var codec = new FrameCodec();
            ClientRequest? request = await codec.ReadAsync(stream, ClientRequest.Parser);
            await codec.WriteAsync(stream, new ClientResponse { RequestId = request!.RequestId + 1, SealedResponse = Google.Protobuf.ByteString.CopyFrom(new byte[40]) });
        });

        var error = Assert.IsInstanceOfType<ProtocolError>(outcome);
        StringAssert.Contains(error.Detail, "response.request_id");
    }

    [TestMethod]
    public async Task A_frame_that_is_not_a_response_is_a_protocol_error()
    {
        VaultOutcome outcome = await StatusAgainstAsync(async stream =>
        {
            await new FrameCodec().ReadPayloadAsync(stream);
            await stream.WriteAsync(new byte[] { 0, 0, 0, 3, 0xff, 0xff, 0xff });
        });

        Assert.IsInstanceOfType<ProtocolError>(outcome);
    }

    [TestMethod]
    public async Task A_server_that_hangs_up_without_answering_is_unavailable()
    {
        VaultOutcome outcome = await StatusAgainstAsync(async stream => await new FrameCodec().ReadPayloadAsync(stream));

        var unavailable = Assert.IsInstanceOfType<Unavailable>(outcome);
        StringAssert.Contains(unavailable.Detail, "closed the connection");
        StringAssert.Contains(unavailable.Detail, "sent nothing back at all: is it the vault's client port, default 7300?");
    }

    [TestMethod]
    public async Task An_oversized_frame_announcement_is_refused_without_reading_it()
    {
        VaultOutcome outcome = await StatusAgainstAsync(async stream =>
        {
            await new FrameCodec().ReadPayloadAsync(stream);
            await stream.WriteAsync(new byte[] { 0x7f, 0xff, 0xff, 0xff });
        });

        var error = Assert.IsInstanceOfType<ProtocolError>(outcome);
        StringAssert.Contains(error.Detail, "maximum");
    }

    [TestMethod]
    public async Task An_http_server_is_named_as_such_not_as_a_length_prefix()
    {
        int port = 0;
        VaultOutcome outcome = await StatusAgainstAsync(
            async stream => await stream.WriteAsync("HTTP/1.1 400 Bad Request\r\n\r\n"u8.ToArray()),
            bound => port = bound);

        var error = Assert.IsInstanceOfType<ProtocolError>(outcome);
        StringAssert.Contains(error.Detail, $"the endpoint 127.0.0.1:{port} answered with HTTP, not the vault's protocol");
        StringAssert.Contains(error.Detail, "client port (default 7300)");
        Assert.IsFalse(error.Detail.Contains("length prefix", StringComparison.Ordinal), error.Detail);
    }

    private static async Task<VaultOutcome> StatusAgainstAsync(Func<NetworkStream, Task> serve, Action<int>? bound = null)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        bound?.Invoke(((IPEndPoint)listener.LocalEndpoint).Port);
        try
        {
            Task server = Task.Run(async () =>
            {
                using TcpClient peer = await listener.AcceptTcpClientAsync();
                await serve(peer.GetStream());
            });
            var options = new VaultClientOptions("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, AnyKey)
            {
                Ksf = IdentityKsf.Instance,
                RequestTimeout = TimeSpan.FromSeconds(5),
            };
            await using var client = new VaultClient(options);
            VaultOutcome outcome = await client.StatusAsync("alice");
            await server;
            return outcome;
        }
        finally
        {
            listener.Stop();
        }
    }
}
