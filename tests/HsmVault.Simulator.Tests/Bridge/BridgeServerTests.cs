using System.Buffers.Binary;
using System.Security.Cryptography;
using HsmVault.Enclave;
using HsmVault.Protocol.Bridge;
using HsmVault.Protocol.V1;
using HsmVault.Simulator.Bridge;
using HsmVault.Simulator.Tests.Enclave;
using HsmVault.Testing;

namespace HsmVault.Simulator.Tests.Bridge;

/// <summary>
/// The bridge server over a real Unix socket, in process, with an enclave on in-memory HSM
/// services: broken framing gets a typed error or a clean close, and never stops the server.
/// </summary>
[TestClass]
public sealed class BridgeServerTests
{
    private string _directory = "";
    private string _socketPath = "";
    private CancellationTokenSource _stop = new();
    private Task _server = Task.CompletedTask;
    private BridgeServer? _bridge;

    [TestInitialize]
    public void StartBridge()
    {
        _directory = Directory.CreateTempSubdirectory("hsmvault-bridge-").FullName;
        _socketPath = Path.Combine(_directory, "hsm.sock");
        var enclave = new VaultEnclave(new InMemoryHsmServices(7), VaultPolicy.Default);
        _bridge = new BridgeServer(request => enclave.Handle(request), BridgeEndpoint.ParseListener("unix:" + _socketPath, "--listen"), TextWriter.Null);
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server = _bridge.RunAsync(() => listening.SetResult(), _stop.Token);
        Assert.IsTrue(Task.WhenAny(listening.Task, _server).Wait(TimeSpan.FromSeconds(10)) && listening.Task.IsCompleted, "the bridge started listening");
        using var first = new BridgeTestConnection(_socketPath);
        Assert.AreEqual(EnclaveResponse.KindOneofCase.State, first.Send(new EnclaveRequest { Initialize = new InitializeRequest() }).KindCase);
    }

    [TestCleanup]
    public void StopBridge()
    {
        _stop.Cancel();
        Assert.IsTrue(_server.Wait(TimeSpan.FromSeconds(10)), "the bridge stops when cancelled");
        _stop.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [TestMethod]
    public void A_valid_frame_with_a_non_protobuf_payload_gets_malformed_request_and_the_connection_goes_on()
    {
        using var connection = new BridgeTestConnection(_socketPath);
        EnclaveResponse garbage = EnclaveResponse.Parser.ParseFrom(connection.Send([0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x42]));
        Assert.AreEqual(EnclaveErrorCode.MalformedRequest, garbage.Error.Code, garbage.ToString());

        EnclaveResponse state = connection.Send(new EnclaveRequest { State = new StateQuery() });
        Assert.AreEqual(EnclaveResponse.KindOneofCase.State, state.KindCase, "the same connection keeps working");
    }

    [TestMethod]
    public void Random_payloads_in_valid_frames_never_break_the_server()
    {
        using var connection = new BridgeTestConnection(_socketPath);
        for (int i = 0; i < 50; i++)
        {
            byte[] payload = RandomNumberGenerator.GetBytes(RandomNumberGenerator.GetInt32(0, 300));
            EnclaveResponse response = EnclaveResponse.Parser.ParseFrom(connection.Send(payload));
            Assert.AreNotEqual(EnclaveResponse.KindOneofCase.Batch, response.KindCase, "random bytes never commit a batch");
        }

        AssertServesNewConnections();
    }

    [TestMethod]
    public void An_oversized_length_prefix_gets_a_typed_error_and_a_close()
    {
        using var connection = new BridgeTestConnection(_socketPath);
        byte[] prefix = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(prefix, 0x7FFF_FFFF);
        connection.WriteRaw(prefix);

        byte[]? answer = connection.ReadPayload();
        Assert.IsNotNull(answer, "the bridge explains before closing");
        Assert.AreEqual(EnclaveErrorCode.MalformedRequest, EnclaveResponse.Parser.ParseFrom(answer).Error.Code);
        Assert.IsTrue(connection.IsClosedByPeer());
        AssertServesNewConnections();
    }

    [TestMethod]
    public void Text_sent_to_the_bridge_is_refused_without_reading_the_announced_length()
    {
        using var connection = new BridgeTestConnection(_socketPath);
        connection.WriteRaw("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"u8);

        byte[]? answer = connection.ReadPayload();
        Assert.IsNotNull(answer);
        Assert.AreEqual(EnclaveErrorCode.MalformedRequest, EnclaveResponse.Parser.ParseFrom(answer).Error.Code);
        Assert.IsTrue(connection.IsClosedByPeer());
        AssertServesNewConnections();
    }

    [TestMethod]
    public void A_frame_truncated_by_the_peer_gets_an_error_or_a_clean_close()
    {
        byte[] partial = new byte[4 + 10];
        BinaryPrimitives.WriteUInt32BigEndian(partial, 100);
        AssertCutShortInputGetsAnErrorOrACleanClose(partial);
    }

    [TestMethod]
    public void A_truncated_length_prefix_gets_an_error_or_a_clean_close()
    {
        AssertCutShortInputGetsAnErrorOrACleanClose([0x00, 0x00]);
    }

    // The peer sends raw bytes and stops writing: the server may answer MALFORMED_REQUEST, must
    // close, and must keep accepting new connections.
    private void AssertCutShortInputGetsAnErrorOrACleanClose(byte[] raw)
    {
        using var connection = new BridgeTestConnection(_socketPath);
        connection.WriteRaw(raw);
        connection.EndWriting();

        byte[]? answer = connection.ReadPayload();
        if (answer is not null)
        {
            Assert.AreEqual(EnclaveErrorCode.MalformedRequest, EnclaveResponse.Parser.ParseFrom(answer).Error.Code);
        }

        Assert.IsTrue(connection.IsClosedByPeer());
        AssertServesNewConnections();
    }

    [TestMethod]
    public void A_bad_connection_does_not_disturb_an_open_one()
    {
        using var honest = new BridgeTestConnection(_socketPath);
        var host = new InMemoryVaultHost(honest.Send);
        var alice = new VaultTestUser(host, "alice");
        byte[] key = RandomNumberGenerator.GetBytes(32);
        alice.Register("pw", key);

        using (var hostile = new BridgeTestConnection(_socketPath))
        {
            hostile.WriteRaw([0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]);
            Assert.IsTrue(hostile.IsClosedByPeerAfterAnyAnswer());
        }

        CollectionAssert.AreEqual(key, alice.Recover("pw"), "the honest connection recovers after the hostile one was dropped");
        Assert.IsGreaterThanOrEqualTo(5L, _bridge!.RequestsHandled);
    }

    private void AssertServesNewConnections()
    {
        using var fresh = new BridgeTestConnection(_socketPath);
        EnclaveResponse state = fresh.Send(new EnclaveRequest { State = new StateQuery() });
        Assert.AreEqual(EnclaveResponse.KindOneofCase.State, state.KindCase, "the bridge still serves new connections");
    }
}
