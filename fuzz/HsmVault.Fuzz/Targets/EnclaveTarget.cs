using Google.Protobuf;
using HsmVault.Crypto.Channel;
using HsmVault.Enclave;
using HsmVault.Fuzz.Support;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// The enclave's byte entry point, VaultEnclave.Handle, as the host's bridge calls it: the input is
/// an encoded EnclaveRequest, sent to a fresh enclave over a seeded in-memory HSM that holds the
/// <see cref="VaultWorld"/> state. Seeds are real requests (initialize, state, batches of every
/// operation with real witnesses, operator deletions), so mutations reach the operations, the
/// witnesses and the channel.
/// </summary>
public sealed class EnclaveTarget : FuzzTarget
{
    private VaultWorld? _world;

    public override string Name => "enclave";

    public override string Feeds => "VaultEnclave.Handle(bytes): EnclaveRequest parse, initialize, state, batches (client operations, operator deletions, witnesses)";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["HsmVault.Enclave", "HsmVault.Protocol", "HsmVault.Crypto"];

    public override long AllocationLimitBytes => 16L << 20;

    public override void Prepare() => _world ??= VaultWorld.Build();

    public override string Run(ReadOnlySpan<byte> input)
    {
        (VaultEnclave enclave, InMemoryHsmServices hsm) = _world!.NewEnclave();
        byte[] before = hsm.ReadNvram();
        EnclaveResponse response = VaultWorld.ParseResponse(enclave.Handle(input), "enclave");
        EnclaveRequest? request = null;
        try
        {
            request = EnclaveRequest.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException)
        {
        }

        return EnclaveChecks.Check(request, response, _world.Store, before, hsm.ReadNvram());
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        Prepare();
        VaultWorld world = _world!;
        TestClient client = world.NewClient(77);
        Operation Op(byte[] user, VaultRequest request, ulong tag)
        {
            (ClientRequest wire, PendingChannelResponse pending) = client.Seal(user, request.ToByteArray(), tag);
            pending.Dispose();
            return new Operation { Tag = tag, Client = wire, Witness = world.Store.WitnessFor(user) };
        }

        EnclaveRequest Batch(params Operation[] operations)
        {
            var batch = new Batch();
            batch.Operations.AddRange(operations);
            return new EnclaveRequest { Batch = batch };
        }

        yield return ("initialize", new EnclaveRequest { Initialize = new InitializeRequest() }.ToByteArray());
        yield return ("state", new EnclaveRequest { State = new StateQuery() }.ToByteArray());
        yield return ("empty-batch", Batch().ToByteArray());
        foreach ((string name, byte[] user, VaultRequest request) in world.NextRequests)
        {
            yield return ($"batch-{name}", Batch(Op(user, request, 1)).ToByteArray());
        }

        yield return ("batch-mixed", Batch(
            Op(VaultWorld.Alice, world.NextRequests[0].Request, 1),
            Op(VaultWorld.Bob, world.NextRequests[3].Request, 2),
            Op(VaultWorld.Dave, world.NextRequests[7].Request, 3),
            Op(VaultWorld.Alice, world.NextRequests[2].Request, 4)).ToByteArray());
        yield return ("operator-delete-alice", Batch(new Operation { Tag = 9, OperatorDelete = world.SignDelete(VaultWorld.Alice, world.LogIndex), Witness = world.Store.WitnessFor(VaultWorld.Alice) }).ToByteArray());
        yield return ("operator-delete-bob", Batch(new Operation { Tag = 9, OperatorDelete = world.SignDelete(VaultWorld.Bob, world.LogIndex), Witness = world.Store.WitnessFor(VaultWorld.Bob) }).ToByteArray());
        yield return ("no-body", Batch(new Operation { Tag = 5, Witness = world.Store.WitnessFor(VaultWorld.Alice) }).ToByteArray());
        Operation status = Op(VaultWorld.Alice, world.NextRequests[0].Request, 1);
        yield return ("too-many", Batch([.. Enumerable.Repeat(status, world.Policy.MaxBatchOperations + 1)]).ToByteArray());
        yield return ("no-kind", []);
    }
}
