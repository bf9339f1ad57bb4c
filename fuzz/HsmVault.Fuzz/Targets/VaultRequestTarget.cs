using Google.Protobuf;
using HsmVault.Crypto.Channel;
using HsmVault.Enclave;
using HsmVault.Fuzz.Support;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// Every protobuf request type inside the channel: the input's plaintext is sealed to the fleet's
/// channel key as a client would seal it (so it opens), and sent in a batch with a witness to a
/// fresh enclave holding the <see cref="VaultWorld"/> state. Every answer the enclave seals must open
/// under the request's key and parse. Input: a selector byte (bits 0-1 the user: alice, bob
/// (unknown), carol (deleted), dave (registration started); bits 2-3 the witness: the user's own,
/// none, another user's, the user's proof with the record left out; bit 4 sends the request twice
/// in one batch), then the VaultRequest bytes.
/// </summary>
public sealed class VaultRequestTarget : FuzzTarget
{
    private VaultWorld? _world;

    public override string Name => "vault-request";

    public override string Feeds => "VaultRequest plaintexts sealed to the channel key, through a batch to VaultEnclave (RegisterStart/Finish, LoginStart/Finish, Status), answers opened by the client";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["HsmVault.Enclave", "HsmVault.Protocol", "HsmVault.Crypto"];

    public override long AllocationLimitBytes => 16L << 20;

    public override void Prepare() => _world ??= VaultWorld.Build();

    public override string Run(ReadOnlySpan<byte> input)
    {
        VaultWorld world = _world!;
        var fields = new FuzzInput(input);
        byte selector = fields.Byte();
        byte[] user = VaultWorld.Users[selector & 3];
        byte[] other = VaultWorld.Users[((selector & 3) + 1) & 3];
        RecordWitness? witness = ((selector >> 2) & 3) switch
        {
            0 => world.Store.WitnessFor(user),
            1 => null,
            2 => world.Store.WitnessFor(other),
            _ => new RecordWitness { Proof = world.Store.WitnessFor(user).Proof },
        };
        int copies = 1 + ((selector >> 4) & 1);
        byte[] plaintext = fields.TakeRest().ToArray();

        TestClient client = world.NewClient(99);
        var pending = new List<PendingChannelResponse>();
        var batch = new Batch();
        for (int i = 0; i < copies; i++)
        {
            (ClientRequest wire, PendingChannelResponse open) = client.Seal(user, plaintext, (ulong)i + 1);
            pending.Add(open);
            batch.Operations.Add(new Operation { Tag = (ulong)i + 1, Client = wire, Witness = witness?.Clone() });
        }

        var request = new EnclaveRequest { Batch = batch };
        (VaultEnclave enclave, InMemoryHsmServices hsm) = world.NewEnclave();
        byte[] before = hsm.ReadNvram();
        EnclaveResponse response = VaultWorld.ParseResponse(enclave.Handle(request.ToByteArray()), "vault-request");
        string label = EnclaveChecks.Check(request, response, world.Store, before, hsm.ReadNvram());
        if (response.KindCase != EnclaveResponse.KindOneofCase.Batch)
        {
            return label;
        }

        var answers = new List<string>();
        for (int i = 0; i < copies; i++)
        {
            OperationResult result = response.Batch.Results[i];
            if (result.Client is null)
            {
                answers.Add(result.Outcome.ToString());
                continue;
            }

            VaultResponse answer = TestClient.Open(pending[i], result.Client, "vault-request");
            answers.Add(answer.ResultCase == VaultResponse.ResultOneofCase.Error ? $"error:{answer.Error.Code}" : answer.ResultCase.ToString());
            pending[i].Dispose();
        }

        return string.Join('/', answers);
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        Prepare();
        VaultWorld world = _world!;
        foreach ((string name, byte[] user, VaultRequest request) in world.NextRequests)
        {
            byte userIndex = (byte)Array.FindIndex(VaultWorld.Users, u => u.AsSpan().SequenceEqual(user));
            yield return (name, [userIndex, .. request.ToByteArray()]);
        }

        yield return ("login-start-alice-twice", [0x10, .. world.NextRequests[2].Request.ToByteArray()]);
        yield return ("status-alice-no-witness", [0x04, .. world.NextRequests[0].Request.ToByteArray()]);
        yield return ("status-alice-other-witness", [0x08, .. world.NextRequests[0].Request.ToByteArray()]);
        yield return ("status-alice-no-record", [0x0C, .. world.NextRequests[0].Request.ToByteArray()]);
        yield return ("empty", [0x00]);
        yield return ("not-protobuf", [0x00, 0xFF, 0xFF, 0xFF]);
    }
}
