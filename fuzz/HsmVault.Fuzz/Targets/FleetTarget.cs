using Google.Protobuf;
using HsmVault.Crypto.Channel;
using HsmVault.Enclave.Fleet;
using HsmVault.Fuzz.Support;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// Fleet replication messages to FleetEnclave.Handle(bytes): Capture, Commit, Vouch, Join,
/// BecomeLeader, Batch, StepDown, FleetOpen, FleetGenesis, FleetState. Input: a role byte (0 the
/// re-elected leader holding entry 6, 1 a witness, 2 a joiner with a challenge drawn, 3 an empty
/// member 0), then the EnclaveRequest bytes. Checked: no catch-all error; NVRAM's captured index
/// never moves back and a joined member never changes fleet; a commit releases answers only on
/// genuine statements from a quorum; a leader's entry writes lead to its root.
/// </summary>
public sealed class FleetTarget : FuzzTarget
{
    private FleetWorld? _world;

    public override string Name => "fleet";

    public override string Feeds => "FleetEnclave.Handle(bytes) in four roles (leader with a held entry, witness, joiner, empty): Capture, Commit, Vouch, Join, BecomeLeader, Batch, Genesis, Open";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["HsmVault.Enclave", "HsmVault.Protocol"];

    public override long AllocationLimitBytes => 16L << 20;

    public override void Prepare() => _world ??= FleetWorld.Build();

    public override string Run(ReadOnlySpan<byte> input)
    {
        FleetWorld world = _world!;
        var fields = new FuzzInput(input);
        int role = fields.Byte() & 3;
        (FleetEnclave enclave, InMemoryHsmServices hsm) = role switch
        {
            0 => world.Leader(),
            1 => world.Witness(),
            2 => Joiner(),
            _ => FleetWorld.NewMember(0, null),
        };
        FleetState before = State(enclave);
        byte[] bytes = fields.TakeRest().ToArray();
        EnclaveResponse response = VaultWorld.ParseResponse(enclave.Handle(bytes), "fleet");
        string label = VaultWorld.Label(response);
        FleetState after = State(enclave);
        if (after.CapturedIndex < before.CapturedIndex)
        {
            throw new FuzzFindingException($"NVRAM moved back from index {before.CapturedIndex} to {after.CapturedIndex}");
        }

        if (!before.FleetId.IsEmpty && (!after.FleetId.Equals(before.FleetId) || !after.ConfigurationHash.Equals(before.ConfigurationHash)))
        {
            throw new FuzzFindingException("a joined member changed fleet or configuration");
        }

        if (after.CapturedIndex == before.CapturedIndex && !before.CapturedMac.Equals(after.CapturedMac))
        {
            throw new FuzzFindingException("NVRAM changed its captured entry at the same index");
        }

        if (role == 0)
        {
            CheckLeader(bytes, response);
        }

        return $"{role}:{label}";
    }

    private (FleetEnclave, InMemoryHsmServices) Joiner()
    {
        (FleetEnclave enclave, InMemoryHsmServices hsm, _) = FleetWorld.Joiner();
        return (enclave, hsm);
    }

    private void CheckLeader(byte[] bytes, EnclaveResponse response)
    {
        FleetWorld world = _world!;
        if (response.KindCase == EnclaveResponse.KindOneofCase.FleetBatch && response.FleetBatch.Entry is { } entry)
        {
            world.Store6.CheckWritesLeadTo(response.FleetBatch.Writes, entry.MerkleRoot, "fleet batch");
        }

        if (response.KindCase != EnclaveResponse.KindOneofCase.Commit || response.Commit.Released.Count == 0)
        {
            return;
        }

        // Entry 6 holds the only answer; releasing it needs genuine statements from two members.
        CommitRequest commit = EnclaveRequest.Parser.ParseFrom(bytes).Commit;
        int genuine = world.Entry6Statements.Count(real => commit.Statements.Any(s => s.Member.Equals(real.Member) && s.Mac.Equals(real.Mac) && s.Index == real.Index && s.EntryMac.Equals(real.EntryMac)));
        if (genuine < 2 || response.Commit.CommittedIndex != 6)
        {
            throw new FuzzFindingException($"a commit released {response.Commit.Released.Count} answers on {genuine} genuine statements (committed index {response.Commit.CommittedIndex})");
        }
    }

    private static FleetState State(FleetEnclave enclave) =>
        FleetWorld.Call(enclave, new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState ?? throw new FuzzFindingException("the member did not report its state");

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        Prepare();
        FleetWorld world = _world!;
        byte[] Seed(byte role, EnclaveRequest request) => [role, .. request.ToByteArray()];
        EnclaveRequest Capture(params ulong[] indexes)
        {
            var capture = new CaptureRequest();
            capture.Entries.AddRange(indexes.Select(i => world.Entries[i]));
            return new EnclaveRequest { Capture = capture };
        }

        EnclaveRequest Commit(params int[] members)
        {
            var commit = new CommitRequest();
            commit.Statements.AddRange(members.Select(m => world.Entry6Statements[m]));
            return new EnclaveRequest { Commit = commit };
        }

        TestClient client = world.NewClient(31);
        var batch = new Batch();
        batch.Operations.Add(world.Operation(client, world.Store6, VaultWorld.Bob, new VaultRequest { Status = new StatusQuery() }, 1, out PendingChannelResponse pending));
        pending.Dispose();
        batch.Operations.Add(world.Operation(client, world.Store6, VaultWorld.Alice, new VaultRequest { Status = new StatusQuery() }, 2, out pending));
        pending.Dispose();
        var vouch = new EnclaveRequest
        {
            Vouch = new VouchRequest { FleetId = ByteString.CopyFrom(world.FleetId), ConfigurationHash = ByteString.CopyFrom(world.ConfigurationHash), Joiner = ByteString.CopyFrom(world.MemberIds[2]), Nonce = ByteString.CopyFrom(new byte[32]) },
        };
        FleetEntry forged = world.Entries[5].Clone();
        forged.MerkleRoot = ByteString.CopyFrom(new byte[32]);

        yield return ("leader-commit", Seed(0, Commit(1, 2)));
        yield return ("leader-commit-own", Seed(0, Commit(0, 1)));
        yield return ("leader-commit-one", Seed(0, Commit(2)));
        yield return ("leader-batch", Seed(0, new EnclaveRequest { Batch = batch }));
        yield return ("leader-capture", Seed(0, Capture(5, 6)));
        yield return ("leader-step-down", Seed(0, new EnclaveRequest { StepDown = new StepDownRequest() }));
        yield return ("leader-become", Seed(0, new EnclaveRequest { BecomeLeader = new BecomeLeaderRequest { Entry = world.Entries[4] } }));
        yield return ("witness-capture", Seed(1, Capture(5, 6)));
        yield return ("witness-capture-gap", Seed(1, Capture(6)));
        yield return ("witness-capture-stale", Seed(1, Capture(3, 4)));
        yield return ("witness-capture-forged", Seed(1, new EnclaveRequest { Capture = new CaptureRequest { Entries = { forged } } }));
        yield return ("witness-vouch", Seed(1, vouch));
        yield return ("witness-open", Seed(1, world.Open()));
        yield return ("witness-batch", Seed(1, new EnclaveRequest { Batch = batch }));
        yield return ("witness-state", Seed(1, new EnclaveRequest { FleetState = new FleetStateQuery() }));
        yield return ("joiner-join", Seed(2, new EnclaveRequest { Join = world.JoinSeed }));
        yield return ("joiner-vouch", Seed(2, vouch));
        yield return ("joiner-genesis", Seed(2, new EnclaveRequest { FleetGenesis = new FleetGenesisRequest { Configuration = world.Configuration } }));
        yield return ("empty-genesis", Seed(3, new EnclaveRequest { FleetGenesis = new FleetGenesisRequest { Configuration = world.Configuration } }));
        yield return ("empty-challenge", Seed(3, new EnclaveRequest { JoinChallenge = new JoinChallengeRequest() }));
        yield return ("empty-open", Seed(3, world.Open()));
    }
}
