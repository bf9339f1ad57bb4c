using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Opaque;
using HsmVault.Enclave;
using HsmVault.Protocol;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;

namespace HsmVault.Fuzz.Support;

/// <summary>
/// A deterministic vault the enclave targets start every input from: a seeded in-memory HSM, an
/// operator key, and a store in which alice is registered (one guess counted, her login session and
/// KE3 kept), carol was deleted by the operator (a tombstone), and dave's registration is started
/// (ticket and record kept). Each input gets a fresh enclave over a fresh HSM with this NVRAM, and a
/// fork of this store, so no input sees another's effects and every run is byte-identical.
/// </summary>
public sealed class VaultWorld
{
    public const ulong HsmSeed = 0x5EED_0001;

    public static readonly byte[] Alice = "alice"u8.ToArray();
    public static readonly byte[] Bob = "bob"u8.ToArray();
    public static readonly byte[] Carol = "carol"u8.ToArray();
    public static readonly byte[] Dave = "dave"u8.ToArray();

    /// <summary>The users a selector byte picks from; bob is unknown to the vault.</summary>
    public static readonly byte[][] Users = [Alice, Bob, Carol, Dave];

    private static readonly byte[] Password = "correct horse"u8.ToArray();

    private VaultWorld(VaultPolicy policy, ECDsa operatorKey)
    {
        Policy = policy;
        OperatorKey = operatorKey;
    }

    public VaultPolicy Policy { get; }

    /// <summary>The operator's signing key; its public half is in <see cref="Policy"/>.</summary>
    public ECDsa OperatorKey { get; }

    public HostStore Store { get; } = new();

    public byte[] Nvram { get; private set; } = [];

    public ulong LogIndex { get; private set; }

    public byte[] ChannelPublicKey { get; private set; } = [];

    public byte[] AkePublicKey { get; private set; } = [];

    /// <summary>The requests an honest client sends next, as VaultRequest plaintexts, by user and name.</summary>
    public List<(string Name, byte[] UserId, VaultRequest Request)> NextRequests { get; } = [];

    /// <summary>alice's login session (from her last LoginStart) and the server state inside it is what a LoginFinish needs.</summary>
    public byte[] AliceSession { get; private set; } = [];

    public byte[] AliceKe1 { get; private set; } = [];

    public byte[] AliceKe3 { get; private set; } = [];

    public byte[] DaveTicket { get; private set; } = [];

    public byte[] DaveRecord { get; private set; } = [];

    public static VaultWorld Build()
    {
        // A fixed operator key (scalar 0x01..0x20) so the seeds' signatures stay valid.
        byte[] d = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];
        var operatorKey = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = d });
        ECParameters pub = operatorKey.ExportParameters(false);
        byte[] operatorPublic = [0x04, .. pub.Q.X!, .. pub.Q.Y!];
        var world = new VaultWorld(new VaultPolicy(AttemptLimit: 5, OperatorPublicKey: operatorPublic), operatorKey);
        world.Populate();
        return world;
    }

    /// <summary>A fresh HSM (same keys, same random stream) holding <paramref name="nvram"/>, and an enclave over it.</summary>
    public (VaultEnclave Enclave, InMemoryHsmServices Hsm) NewEnclave(ReadOnlySpan<byte> nvram)
    {
        var hsm = new InMemoryHsmServices(HsmSeed, new InMemoryNvram());
        if (!nvram.IsEmpty)
        {
            hsm.WriteNvram(nvram);
        }

        return (new VaultEnclave(hsm, Policy), hsm);
    }

    public (VaultEnclave Enclave, InMemoryHsmServices Hsm) NewEnclave() => NewEnclave(Nvram);

    public TestClient NewClient(ulong seed) => new(ChannelPublicKey, AkePublicKey, Policy.OpaqueContext, seed);

    /// <summary>An operator deletion of <paramref name="userId"/> up to <paramref name="maxVersion"/>, signed with the operator key.</summary>
    public OperatorDelete SignDelete(byte[] userId, ulong maxVersion) => new()
    {
        UserId = ByteString.CopyFrom(userId),
        MaxRecordVersion = maxVersion,
        Signature = ByteString.CopyFrom(OperatorKey.SignData(OperatorDeleteStatement.ToSign(userId, maxVersion), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)),
    };

    /// <summary>
    /// NVRAM content as VaultEnclave writes it (CommittedState: "HSMV" || 0x01 || u64_be index ||
    /// root (32) || entry MAC (32)); the test rig plays the HSM, so it may plant any state.
    /// </summary>
    public static byte[] EncodeNvram(ulong index, ReadOnlySpan<byte> root, ReadOnlySpan<byte> mac)
    {
        byte[] bytes = new byte[77];
        "HSMV"u8.CopyTo(bytes);
        bytes[4] = 0x01;
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(5), index);
        root.CopyTo(bytes.AsSpan(13));
        mac.CopyTo(bytes.AsSpan(45));
        return bytes;
    }

    /// <summary>Parses an encoded EnclaveResponse; a finding when the enclave's answer is not one.</summary>
    public static EnclaveResponse ParseResponse(byte[] response, string what)
    {
        try
        {
            return EnclaveResponse.Parser.ParseFrom(response);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new FuzzFindingException($"{what}: the enclave's answer is not an EnclaveResponse ({ex.Message})");
        }
    }

    /// <summary>The label of an enclave answer; a finding when it is the catch-all (an exception inside the enclave).</summary>
    public static string Label(EnclaveResponse response)
    {
        if (response.KindCase == EnclaveResponse.KindOneofCase.Error)
        {
            if (response.Error.Code == EnclaveErrorCode.EnclaveInternal)
            {
                throw new FuzzFindingException($"the enclave's catch-all answered: {response.Error.Message}");
            }

            return $"error:{response.Error.Code}";
        }

        return response.KindCase.ToString();
    }

    private void Populate()
    {
        (VaultEnclave enclave, InMemoryHsmServices hsm) = NewEnclave([]);
        EnclaveResponse init = Call(enclave, new EnclaveRequest { Initialize = new InitializeRequest() });
        ChannelPublicKey = init.State.ChannelPublicKey.ToByteArray();
        AkePublicKey = init.State.AkePublicKey.ToByteArray();
        TestClient client = NewClient(1);

        // alice and carol register; the operator deletes carol.
        Register(enclave, client, Alice);
        Register(enclave, client, Carol);
        Submit(enclave, [new Operation { Tag = 1, OperatorDelete = SignDelete(Carol, LogIndex), Witness = Store.WitnessFor(Carol) }]);

        // dave starts a registration and keeps the ticket; his finish is a seed.
        byte[] request = client.Opaque.CreateRegistrationRequest(Password, out ClientRegistrationState daveState);
        VaultResponse started = Send(enclave, client, Dave, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(request) } });
        DaveTicket = started.RegisterStarted.RegistrationSession.ToByteArray();
        DaveRecord = client.Opaque.FinalizeRegistration(daveState, started.RegisterStarted.RegistrationResponse.Span, AkePublicKey, Dave).Record;

        // alice starts a login (one guess counted) and keeps the session; her finish is a seed.
        AliceKe1 = client.Opaque.GenerateKE1(Password, out ClientLoginState aliceLogin);
        VaultResponse login = Send(enclave, client, Alice, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(AliceKe1) } });
        AliceSession = login.LoginStarted.LoginSession.ToByteArray();
        AliceKe3 = client.Opaque.GenerateKE3(aliceLogin, login.LoginStarted.Ke2.Span, AkePublicKey, Alice).KE3;
        Nvram = hsm.ReadNvram();

        byte[] bobKe1 = client.Opaque.GenerateKE1("guess"u8, out _);
        byte[] bobRegistration = client.Opaque.CreateRegistrationRequest(Password, out _);
        NextRequests.AddRange(
        [
            ("status-alice", Alice, new VaultRequest { Status = new StatusQuery() }),
            ("status-carol", Carol, new VaultRequest { Status = new StatusQuery() }),
            ("login-start-alice", Alice, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(AliceKe1) } }),
            ("login-start-bob", Bob, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(bobKe1) } }),
            ("login-finish-alice", Alice, new VaultRequest { LoginFinish = new LoginFinish { LoginSession = ByteString.CopyFrom(AliceSession), Ke3 = ByteString.CopyFrom(AliceKe3), Action = LoginAction.Recover } }),
            ("login-delete-alice", Alice, new VaultRequest { LoginFinish = new LoginFinish { LoginSession = ByteString.CopyFrom(AliceSession), Ke3 = ByteString.CopyFrom(AliceKe3), Action = LoginAction.Delete } }),
            ("register-start-bob", Bob, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(bobRegistration) } }),
            ("register-finish-dave", Dave, new VaultRequest { RegisterFinish = new RegisterFinish { RegistrationSession = ByteString.CopyFrom(DaveTicket), RegistrationRecord = ByteString.CopyFrom(DaveRecord), EncryptedKeyBlob = ByteString.CopyFrom(new byte[48]) } }),
        ]);
    }

    private void Register(VaultEnclave enclave, TestClient client, byte[] userId)
    {
        byte[] request = client.Opaque.CreateRegistrationRequest(Password, out ClientRegistrationState state);
        VaultResponse started = Send(enclave, client, userId, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(request) } });
        byte[] record = client.Opaque.FinalizeRegistration(state, started.RegisterStarted.RegistrationResponse.Span, AkePublicKey, userId).Record;
        VaultResponse finished = Send(enclave, client, userId, new VaultRequest
        {
            RegisterFinish = new RegisterFinish
            {
                RegistrationSession = started.RegisterStarted.RegistrationSession,
                RegistrationRecord = ByteString.CopyFrom(record),
                EncryptedKeyBlob = ByteString.CopyFrom(Encoding.UTF8.GetBytes("an encrypted backup key, 48 bytes long.........")),
            },
        });
        if (finished.ResultCase != VaultResponse.ResultOneofCase.Registered)
        {
            throw new InvalidOperationException($"the fixture's registration failed: {finished}");
        }
    }

    private VaultResponse Send(VaultEnclave enclave, TestClient client, byte[] userId, VaultRequest request)
    {
        (ClientRequest wire, PendingChannelResponse pending) = client.Seal(userId, request.ToByteArray());
        using (pending)
        {
            BatchResult result = Submit(enclave, [new Operation { Tag = 1, Client = wire, Witness = Store.WitnessFor(userId) }]);
            VaultResponse response = TestClient.Open(pending, result.Results[0].Client, "fixture");
            if (response.ResultCase == VaultResponse.ResultOneofCase.Error)
            {
                throw new InvalidOperationException($"the fixture's request failed: {response}");
            }

            return response;
        }
    }

    private BatchResult Submit(VaultEnclave enclave, IEnumerable<Operation> operations)
    {
        var batch = new Batch();
        batch.Operations.AddRange(operations);
        EnclaveResponse response = Call(enclave, new EnclaveRequest { Batch = batch });
        if (response.KindCase != EnclaveResponse.KindOneofCase.Batch)
        {
            throw new InvalidOperationException($"the fixture's batch failed: {response}");
        }

        if (response.Batch.Entry is { } entry)
        {
            Store.Apply(response.Batch.Writes);
            LogIndex = entry.Index;
        }

        return response.Batch;
    }

    private static EnclaveResponse Call(VaultEnclave enclave, EnclaveRequest request) => EnclaveResponse.Parser.ParseFrom(enclave.Handle(request.ToByteArray()));
}
