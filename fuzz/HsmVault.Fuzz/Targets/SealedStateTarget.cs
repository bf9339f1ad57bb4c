using System.Buffers.Binary;
using Google.Protobuf;
using HsmVault.Crypto.Channel;
using HsmVault.Enclave;
using HsmVault.Fuzz.Support;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// Sealed records, login sessions and registration tickets as the enclave unseals them. A host
/// cannot forge these (they are AES-GCM under the HSM's record key), so the rig plays the HSM: it
/// seals the fuzzed plaintext itself under the right associated data, plants it, and sends the
/// operations that unseal it to a fresh enclave. This checks the parsing behind the seal, which
/// only a bug in the enclave itself, an older format or a leaked record key would ever feed.
/// Mode byte: 0 a record of alice's (planted in the tree and NVRAM; then Status and LoginStart,
/// and an operator deletion), 1 alice's login session (LoginFinish, bit 2 of the mode byte picks
/// DELETE), 2 a registration ticket for dave (RegisterFinish). The rest is the plaintext.
/// </summary>
public sealed class SealedStateTarget : FuzzTarget
{
    private VaultWorld? _world;

    public override string Name => "sealed-state";

    public override string Feeds => "VaultRecord, LoginSession and RegistrationTicket plaintexts sealed by the rig's HSM and unsealed by VaultEnclave in Status, LoginStart, LoginFinish, RegisterFinish and operator deletion";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["HsmVault.Enclave", "HsmVault.Protocol", "HsmVault.Crypto"];

    public override long AllocationLimitBytes => 16L << 20;

    public override void Prepare() => _world ??= VaultWorld.Build();

    public override string Run(ReadOnlySpan<byte> input)
    {
        var fields = new FuzzInput(input);
        byte mode = fields.Byte();
        byte[] plaintext = fields.TakeRest().ToArray();
        return (mode & 3) switch
        {
            0 => Record(plaintext),
            1 => Session(plaintext, (mode & 4) != 0 ? LoginAction.Delete : LoginAction.Recover),
            _ => Ticket(plaintext),
        };
    }

    private string Record(byte[] plaintext)
    {
        VaultWorld world = _world!;
        ulong version = world.LogIndex;
        var hsm = new InMemoryHsmServices(VaultWorld.HsmSeed, new InMemoryNvram());
        var record = new SealedRecord { Version = version, Ciphertext = ByteString.CopyFrom(hsm.Seal(plaintext, RecordAad(VaultWorld.Alice, version))) };
        HostStore store = world.Store.Fork();
        store.Put(MerkleHashing.UserKey(VaultWorld.Alice), record);
        hsm.WriteNvram(VaultWorld.EncodeNvram(version, store.Tree.Root, new byte[32]));
        var enclave = new VaultEnclave(hsm, world.Policy);

        TestClient client = world.NewClient(5);
        (ClientRequest status, PendingChannelResponse statusOpen) = client.Seal(VaultWorld.Alice, new VaultRequest { Status = new StatusQuery() }.ToByteArray(), 1);
        (ClientRequest login, PendingChannelResponse loginOpen) = client.Seal(VaultWorld.Alice, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(world.AliceKe1) } }.ToByteArray(), 2);
        var batch = new Batch();
        batch.Operations.Add(new Operation { Tag = 1, Client = status, Witness = store.WitnessFor(VaultWorld.Alice) });
        batch.Operations.Add(new Operation { Tag = 2, Client = login, Witness = store.WitnessFor(VaultWorld.Alice) });
        string first = Send(enclave, hsm, store, batch, [statusOpen, loginOpen]);

        var delete = new Batch();
        delete.Operations.Add(new Operation { Tag = 3, OperatorDelete = world.SignDelete(VaultWorld.Alice, ulong.MaxValue), Witness = store.WitnessFor(VaultWorld.Alice) });
        return $"{first}|{Send(enclave, hsm, store, delete, [])}";
    }

    private string Session(byte[] plaintext, LoginAction action)
    {
        VaultWorld world = _world!;
        (VaultEnclave enclave, InMemoryHsmServices hsm) = world.NewEnclave();
        byte[] session = hsm.Seal(plaintext, [.. "HsmVault-v1 login session"u8, .. VaultWorld.Alice]);
        var request = new VaultRequest { LoginFinish = new LoginFinish { LoginSession = ByteString.CopyFrom(session), Ke3 = ByteString.CopyFrom(world.AliceKe3), Action = action } };
        return SendOne(enclave, hsm, VaultWorld.Alice, request);
    }

    private string Ticket(byte[] plaintext)
    {
        VaultWorld world = _world!;
        (VaultEnclave enclave, InMemoryHsmServices hsm) = world.NewEnclave();
        byte[] ticket = hsm.Seal(plaintext, [.. "HsmVault-v1 registration"u8, .. VaultWorld.Dave]);
        var request = new VaultRequest
        {
            RegisterFinish = new RegisterFinish { RegistrationSession = ByteString.CopyFrom(ticket), RegistrationRecord = ByteString.CopyFrom(world.DaveRecord), EncryptedKeyBlob = ByteString.CopyFrom(new byte[48]) },
        };
        return SendOne(enclave, hsm, VaultWorld.Dave, request);
    }

    private string SendOne(VaultEnclave enclave, InMemoryHsmServices hsm, byte[] user, VaultRequest request)
    {
        (ClientRequest wire, PendingChannelResponse open) = _world!.NewClient(6).Seal(user, request.ToByteArray(), 1);
        HostStore store = _world.Store.Fork();
        var batch = new Batch();
        batch.Operations.Add(new Operation { Tag = 1, Client = wire, Witness = store.WitnessFor(user) });
        return Send(enclave, hsm, store, batch, [open]);
    }

    private static string Send(VaultEnclave enclave, InMemoryHsmServices hsm, HostStore store, Batch batch, IReadOnlyList<PendingChannelResponse> pending)
    {
        var request = new EnclaveRequest { Batch = batch };
        byte[] before = hsm.ReadNvram();
        EnclaveResponse response = VaultWorld.ParseResponse(enclave.Handle(request.ToByteArray()), "sealed-state");
        string label = EnclaveChecks.Check(request, response, store, before, hsm.ReadNvram());
        if (response.KindCase != EnclaveResponse.KindOneofCase.Batch)
        {
            return label;
        }

        var answers = new List<string>();
        for (int i = 0; i < response.Batch.Results.Count; i++)
        {
            OperationResult result = response.Batch.Results[i];
            if (i < pending.Count && result.Client is not null)
            {
                VaultResponse answer = TestClient.Open(pending[i], result.Client, "sealed-state");
                answers.Add(answer.ResultCase == VaultResponse.ResultOneofCase.Error ? $"error:{answer.Error.Code}" : answer.ResultCase.ToString());
            }
            else
            {
                answers.Add(result.Outcome.ToString());
            }
        }

        store.Apply(response.Batch.Writes);
        return string.Join('/', answers);
    }

    private static byte[] RecordAad(byte[] user, ulong version)
    {
        byte[] aad = [.. "HsmVault-v1 record"u8, 0, 0, 0, 0, 0, 0, 0, 0, .. user];
        BinaryPrimitives.WriteUInt64BigEndian(aad.AsSpan("HsmVault-v1 record"u8.Length), version);
        return aad;
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        Prepare();
        VaultWorld world = _world!;
        var hsm = new InMemoryHsmServices(VaultWorld.HsmSeed, new InMemoryNvram());
        RecordWitness alice = world.Store.WitnessFor(VaultWorld.Alice);
        RecordWitness carol = world.Store.WitnessFor(VaultWorld.Carol);
        byte[] Open(ReadOnlySpan<byte> sealedBytes, byte[] aad) =>
            hsm.TryUnseal(sealedBytes, aad, out byte[] plaintext) ? plaintext : throw new InvalidOperationException("the fixture's sealed value does not open");

        yield return ("record-alice", [0, .. Open(alice.Record.Ciphertext.Span, RecordAad(VaultWorld.Alice, alice.Record.Version))]);
        yield return ("record-tombstone", [0, .. Open(carol.Record.Ciphertext.Span, RecordAad(VaultWorld.Carol, carol.Record.Version))]);
        byte[] exhausted = Open(alice.Record.Ciphertext.Span, RecordAad(VaultWorld.Alice, alice.Record.Version));
        exhausted[1] = 0xFF;
        yield return ("record-exhausted", [0, .. exhausted]);
        byte[] session = Open(world.AliceSession, [.. "HsmVault-v1 login session"u8, .. VaultWorld.Alice]);
        yield return ("session-alice", [1, .. session]);
        yield return ("session-alice-delete", [5, .. session]);
        byte[] fake = [.. session];
        fake[0] = 1;
        yield return ("session-fake", [1, .. fake]);
        yield return ("ticket-dave", [2, .. Open(world.DaveTicket, [.. "HsmVault-v1 registration"u8, .. VaultWorld.Dave])]);
        yield return ("empty-record", [0]);
    }
}
