using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using HsmVault.Host.Configuration;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

[TestClass]
public sealed class ClientListenerTests
{
    [TestMethod]
    public async Task A_well_formed_request_gets_its_response_with_the_same_request_id()
    {
        await using ListenerHarness harness = await ListenerHarness.StartAsync(new EchoHandler());

        ClientRequest request = Requests.Status("alice");
        ClientResponse response = await harness.RoundTripAsync(request);

        Assert.AreEqual(request.RequestId, response.RequestId);
        Assert.AreEqual(7u, TestChannel.Open(request, response).Status.AttemptsLeft);
    }

    [TestMethod]
    public async Task A_garbage_payload_gets_bad_request_and_the_connection_keeps_working()
    {
        var handler = new EchoHandler();
        await using ListenerHarness harness = await ListenerHarness.StartAsync(handler);
        using TcpClient client = await harness.ConnectAsync();
        NetworkStream stream = client.GetStream();

        await stream.WriteAsync(Frame([0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x12]));
        ClientResponse refused = (await ListenerHarness.ReadResponseAsync(stream))!;
        ClientRequest request = Requests.Status("alice");
        await new FrameCodec().WriteAsync(stream, request);
        ClientResponse answered = (await ListenerHarness.ReadResponseAsync(stream))!;

        Assert.AreEqual(ErrorCode.BadRequest, refused.Error.Code);
        Assert.AreEqual("frame", refused.Error.Field);
        Assert.AreEqual(7u, TestChannel.Open(request, answered).Status.AttemptsLeft);
        Assert.AreEqual(1, handler.Received);
    }

    [TestMethod]
    public async Task An_oversized_frame_gets_too_large_and_the_connection_is_closed()
    {
        var handler = new EchoHandler();
        await using ListenerHarness harness = await ListenerHarness.StartAsync(handler);
        using TcpClient client = await harness.ConnectAsync();
        NetworkStream stream = client.GetStream();

        byte[] prefix = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(prefix, 1_000_000);
        await stream.WriteAsync(prefix);
        ClientResponse refused = (await ListenerHarness.ReadResponseAsync(stream))!;

        Assert.AreEqual(ErrorCode.TooLarge, refused.Error.Code);
        StringAssert.Contains(refused.Error.Message, "1000000");
        Assert.IsTrue(await ListenerHarness.IsClosedByServerAsync(stream, TimeSpan.FromSeconds(5)));
        Assert.AreEqual(0, handler.Received);
    }

    [TestMethod]
    public async Task A_truncated_frame_closes_only_that_connection()
    {
        var handler = new EchoHandler();
        await using ListenerHarness harness = await ListenerHarness.StartAsync(handler);
        using (TcpClient truncating = await harness.ConnectAsync())
        {
            NetworkStream stream = truncating.GetStream();
            byte[] frame = new FrameCodec().Encode(Requests.Status("alice"));
            await stream.WriteAsync(frame.AsMemory(0, frame.Length - 3));
            truncating.Client.Shutdown(SocketShutdown.Send);
            ClientResponse? refused = await ListenerHarness.ReadResponseAsync(stream);
            Assert.AreEqual(ErrorCode.BadRequest, refused?.Error.Code);
            Assert.IsTrue(await ListenerHarness.IsClosedByServerAsync(stream, TimeSpan.FromSeconds(5)));
        }

        ClientRequest bob = Requests.Status("bob");
        ClientResponse other = await harness.RoundTripAsync(bob);

        Assert.AreEqual(7u, TestChannel.Open(bob, other).Status.AttemptsLeft);
        Assert.AreEqual(1, handler.Received);
    }

    [TestMethod]
    public async Task A_client_that_stalls_inside_a_frame_is_cut_off_after_the_read_timeout()
    {
        ClientListenerOptions options = ListenerHarness.Options();
        options.ReadTimeout = TimeSpan.FromMilliseconds(300);
        await using ListenerHarness harness = await ListenerHarness.StartAsync(new EchoHandler(), options);
        using TcpClient slow = await harness.ConnectAsync();
        NetworkStream stream = slow.GetStream();

        await stream.WriteAsync(new byte[] { 0, 0, 0, 50, 1, 2 });
        ClientResponse refused = (await ListenerHarness.ReadResponseAsync(stream))!;

        Assert.AreEqual(ErrorCode.BadRequest, refused.Error.Code);
        StringAssert.Contains(refused.Error.Message, "incomplete");
        Assert.IsTrue(await ListenerHarness.IsClosedByServerAsync(stream, TimeSpan.FromSeconds(5)));
    }

    [TestMethod]
    public async Task An_idle_connection_is_closed_after_the_idle_timeout_while_others_are_served()
    {
        ClientListenerOptions options = ListenerHarness.Options();
        options.IdleTimeout = TimeSpan.FromMilliseconds(300);
        await using ListenerHarness harness = await ListenerHarness.StartAsync(new EchoHandler(), options);
        using TcpClient idle = await harness.ConnectAsync();

        ClientRequest bob = Requests.Status("bob");
        ClientResponse other = await harness.RoundTripAsync(bob);

        Assert.AreEqual(7u, TestChannel.Open(bob, other).Status.AttemptsLeft);
        Assert.IsTrue(await ListenerHarness.IsClosedByServerAsync(idle.GetStream(), TimeSpan.FromSeconds(5)));
        await VaultPipelineTests.WaitUntilAsync(() => harness.Listener.OpenConnections == 0);
    }

    [TestMethod]
    public async Task Connections_beyond_the_limit_get_busy_and_admitted_ones_are_unaffected()
    {
        ClientListenerOptions options = ListenerHarness.Options();
        options.MaxConnections = 3;
        await using ListenerHarness harness = await ListenerHarness.StartAsync(new EchoHandler(), options);
        List<TcpClient> held = [];
        for (int i = 0; i < 3; i++)
        {
            held.Add(await harness.ConnectAsync());
        }

        await VaultPipelineTests.WaitUntilAsync(() => harness.Listener.OpenConnections == 3);
        using TcpClient extra = await harness.ConnectAsync();
        ClientResponse busy = (await ListenerHarness.ReadResponseAsync(extra.GetStream()))!;
        ClientRequest request = Requests.Status("alice");
        await new FrameCodec().WriteAsync(held[0].GetStream(), request);
        ClientResponse served = (await ListenerHarness.ReadResponseAsync(held[0].GetStream()))!;

        Assert.AreEqual(ErrorCode.Busy, busy.Error.Code);
        Assert.IsTrue(await ListenerHarness.IsClosedByServerAsync(extra.GetStream(), TimeSpan.FromSeconds(5)));
        Assert.AreEqual(7u, TestChannel.Open(request, served).Status.AttemptsLeft);
        held.ForEach(c => c.Dispose());
    }

    [TestMethod]
    public async Task Many_hostile_clients_at_once_do_not_stop_a_well_behaved_one()
    {
        ClientListenerOptions options = ListenerHarness.Options();
        options.ReadTimeout = TimeSpan.FromMilliseconds(500);
        await using ListenerHarness harness = await ListenerHarness.StartAsync(new EchoHandler(), options);
        var random = new Random(1234);
        List<TcpClient> hostile = [];
        for (int i = 0; i < 40; i++)
        {
            TcpClient client = await harness.ConnectAsync();
            hostile.Add(client);
            byte[] junk = new byte[random.Next(1, 200)];
            random.NextBytes(junk);
            try
            {
                await client.GetStream().WriteAsync(junk);
            }
            catch (IOException)
            {
                // The server may already have refused this connection.
            }
        }

        ClientRequest[] requests = Enumerable.Range(0, 5).Select(i => Requests.Status($"ok{i}")).ToArray();
        ClientResponse[] answers = await Task.WhenAll(requests.Select(harness.RoundTripAsync));

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.AreEqual(7u, TestChannel.Open(requests[i], answers[i]).Status.AttemptsLeft);
        }

        hostile.ForEach(c => c.Dispose());
    }

    [TestMethod]
    public async Task Stopping_the_listener_lets_a_request_in_progress_finish_first()
    {
        var handler = new EchoHandler { Gate = new TaskCompletionSource() };
        ListenerHarness harness = await ListenerHarness.StartAsync(handler);
        using TcpClient client = await harness.ConnectAsync();
        ClientRequest request = Requests.Status("alice");
        await new FrameCodec().WriteAsync(client.GetStream(), request);
        await VaultPipelineTests.WaitUntilAsync(() => handler.Received == 1);

        Task stopping = harness.DisposeAsync().AsTask();
        await Task.Delay(100);
        Assert.IsFalse(stopping.IsCompleted, "the listener stopped before answering the request in progress");
        handler.Gate.SetResult();
        ClientResponse response = (await ListenerHarness.ReadResponseAsync(client.GetStream()))!;
        await stopping;

        Assert.AreEqual(7u, TestChannel.Open(request, response).Status.AttemptsLeft);
    }

    [TestMethod]
    public async Task With_a_certificate_configured_the_listener_speaks_tls()
    {
        using var directory = new TempDirectory();
        string pfx = directory.File("server.pfx");
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
            using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "pw"));
        }

        ClientListenerOptions options = ListenerHarness.Options();
        options.TlsCertificatePath = pfx;
        options.TlsCertificatePassword = "pw";
        await using ListenerHarness harness = await ListenerHarness.StartAsync(new EchoHandler(), options);
        using TcpClient client = await harness.ConnectAsync();
        await using var tls = new SslStream(client.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync("localhost");

        ClientRequest status = Requests.Status("alice");
        await new FrameCodec().WriteAsync(tls, status);
        ClientResponse response = (await ListenerHarness.ReadResponseAsync(tls))!;

        Assert.IsTrue(tls.IsAuthenticated);
        Assert.AreEqual(7u, TestChannel.Open(status, response).Status.AttemptsLeft);
    }

    private static byte[] Frame(byte[] payload)
    {
        byte[] frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)payload.Length);
        payload.CopyTo(frame, 4);
        return frame;
    }
}
