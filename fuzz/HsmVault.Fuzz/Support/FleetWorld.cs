using Google.Protobuf;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Opaque;
using HsmVault.Enclave;
using HsmVault.Enclave.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;

namespace HsmVault.Fuzz.Support;

/// <summary>
/// A deterministic three-member fleet (docs/REPLICATION.md) the fleet target starts every input
/// from. Built once: genesis on member 0, members 1 and 2 join, member 0 leads, alice registers
/// (entries 2 to 4, every member captures them). Then each member's NVRAM is kept. Per input, a
/// member is made fresh from that NVRAM in one of four roles: the leader (re-elected: it leads from
/// entry 4, commits an empty entry 5 on the kept statements of members 1 and 2, and holds entry 6, a
/// LoginStart of alice's, uncommitted), a witness (member 1, opened), a joiner (an empty member 2
/// with a join challenge drawn, as while the fleet forms) and an empty member 0 (before genesis).
/// Every step is seeded, so the per-input member repeats the build's steps byte for byte and the
/// seeds' MACs, statements and vouches stay valid.
/// </summary>
public sealed class FleetWorld
{
    public const ulong FleetSeed = 0xF1EE_7001;

    private static readonly byte[] Password = "correct horse"u8.ToArray();

    private readonly byte[][] _nvram = new byte[3][];

    private FleetWorld()
    {
    }

    public FleetConfiguration Configuration { get; } = new() { Quorum = 2, AttemptLimit = 5, OpaqueContext = VaultPolicy.DefaultOpaqueContext };

    public byte[] FleetId { get; private set; } = [];

    public byte[] ConfigurationHash { get; private set; } = [];

    public byte[][] MemberIds { get; } = new byte[3][];

    public FleetEntry Genesis { get; private set; } = new();

    /// <summary>Entries 2 to 6 of the chain: 2 to 4 captured by everyone, 5 and 6 the re-elected leader's.</summary>
    public Dictionary<ulong, FleetEntry> Entries { get; } = [];

    /// <summary>Members 1 and 2's statements for entry 5: what the per-input leader commits on.</summary>
    public List<CapturedStatement> FirstCommit { get; } = [];

    /// <summary>Every member's genuine statement for entry 6 (the pending one), by member.</summary>
    public CapturedStatement[] Entry6Statements { get; } = new CapturedStatement[3];

    /// <summary>The store after entry 4 and after entry 6.</summary>
    public HostStore Store4 { get; private set; } = new();

    public HostStore Store6 { get; private set; } = new();

    /// <summary>The join request that admits the fresh joiner (vouches from members 0 and 1 at genesis for its challenge).</summary>
    public JoinRequest JoinSeed { get; private set; } = new();

    public byte[] ChannelPublicKey { get; private set; } = [];

    public byte[] AkePublicKey { get; private set; } = [];

    private Operation LoginStartAlice { get; set; } = new();

    public static FleetWorld Build()
    {
        var world = new FleetWorld();
        world.Populate();
        return world;
    }

    public static (FleetEnclave Enclave, InMemoryHsmServices Hsm) NewMember(int member, byte[]? nvram)
    {
        var hsm = new InMemoryHsmServices(FleetSeed, (ulong)member + 1, new InMemoryNvram());
        if (nvram is { Length: > 0 })
        {
            hsm.WriteNvram(nvram);
        }

        return (new FleetEnclave(hsm), hsm);
    }

    public static EnclaveResponse Call(FleetEnclave enclave, EnclaveRequest request) => EnclaveResponse.Parser.ParseFrom(enclave.Handle(request.ToByteArray()));

    /// <summary>The per-input leader: member 0 from its kept NVRAM, re-elected, entry 5 committed, entry 6 held.</summary>
    public (FleetEnclave Enclave, InMemoryHsmServices Hsm) Leader() => Leader(learn: false);

    // While the world is built (learn), the leader's entries and the store after entry 6 are kept.
    private (FleetEnclave Enclave, InMemoryHsmServices Hsm) Leader(bool learn)
    {
        (FleetEnclave leader, InMemoryHsmServices hsm) = NewMember(0, _nvram[0]);
        Expect(Call(leader, Open()), EnclaveResponse.KindOneofCase.FleetState, "open");
        Expect(Call(leader, new EnclaveRequest { BecomeLeader = new BecomeLeaderRequest { Entry = Entries[4] } }), EnclaveResponse.KindOneofCase.FleetState, "become leader");
        EnclaveResponse five = Expect(Call(leader, new EnclaveRequest { Batch = new Batch() }), EnclaveResponse.KindOneofCase.FleetBatch, "entry 5");
        if (learn)
        {
            Entries[5] = five.FleetBatch.Entry;
        }

        if (FirstCommit.Count == 0)
        {
            return (leader, hsm);
        }

        var commit = new CommitRequest();
        commit.Statements.AddRange(FirstCommit);
        Expect(Call(leader, new EnclaveRequest { Commit = commit }), EnclaveResponse.KindOneofCase.Commit, "commit 5");
        var batch = new Batch();
        batch.Operations.Add(LoginStartAlice);
        EnclaveResponse six = Expect(Call(leader, new EnclaveRequest { Batch = batch }), EnclaveResponse.KindOneofCase.FleetBatch, "entry 6");
        if (learn)
        {
            Entries[6] = six.FleetBatch.Entry;
            HostStore store = Store4.Fork();
            store.Apply(six.FleetBatch.Writes);
            Store6 = store;
        }

        return (leader, hsm);
    }

    /// <summary>The per-input witness: member 1 from its kept NVRAM, opened.</summary>
    public (FleetEnclave Enclave, InMemoryHsmServices Hsm) Witness()
    {
        (FleetEnclave witness, InMemoryHsmServices hsm) = NewMember(1, _nvram[1]);
        Expect(Call(witness, Open()), EnclaveResponse.KindOneofCase.FleetState, "open");
        return (witness, hsm);
    }

    /// <summary>The per-input joiner: an empty member 2 that has drawn its join challenge.</summary>
    public static (FleetEnclave Enclave, InMemoryHsmServices Hsm, byte[] Nonce) Joiner()
    {
        (FleetEnclave joiner, InMemoryHsmServices hsm) = NewMember(2, null);
        EnclaveResponse challenge = Expect(Call(joiner, new EnclaveRequest { JoinChallenge = new JoinChallengeRequest() }), EnclaveResponse.KindOneofCase.JoinChallenge, "challenge");
        return (joiner, hsm, challenge.JoinChallenge.Nonce.ToByteArray());
    }

    public EnclaveRequest Open() => new() { FleetOpen = new FleetOpenRequest { Configuration = Configuration } };

    public TestClient NewClient(ulong seed) => new(ChannelPublicKey, AkePublicKey, Configuration.OpaqueContext, seed);

    /// <summary>A client request for <paramref name="user"/>, sealed and wrapped with its witness from <paramref name="store"/>.</summary>
    public Operation Operation(TestClient client, HostStore store, byte[] user, VaultRequest request, ulong tag, out PendingChannelResponse pending)
    {
        (ClientRequest wire, PendingChannelResponse open) = client.Seal(user, request.ToByteArray(), tag);
        pending = open;
        return new Operation { Tag = tag, Client = wire, Witness = store.WitnessFor(user) };
    }

    private void Populate()
    {
        var members = new (FleetEnclave Enclave, InMemoryHsmServices Hsm)[3];
        for (int i = 0; i < 3; i++)
        {
            members[i] = NewMember(i, null);
            MemberIds[i] = members[i].Enclave.MemberId;
            Configuration.Members.Add(new FleetMemberKey { IdentityPublicKey = ByteString.CopyFrom(members[i].Hsm.IdentityPublicKey) });
        }

        byte[] operatorPublic = OperatorPublicKey();
        Configuration.OperatorPublicKey = ByteString.CopyFrom(operatorPublic);
        ChannelPublicKey = members[0].Hsm.ChannelPublicKey;
        AkePublicKey = members[0].Hsm.AkePublicKey;

        EnclaveResponse genesis = Expect(Call(members[0].Enclave, new EnclaveRequest { FleetGenesis = new FleetGenesisRequest { Configuration = Configuration } }), EnclaveResponse.KindOneofCase.FleetState, "genesis");
        FleetId = genesis.FleetState.FleetId.ToByteArray();
        ConfigurationHash = genesis.FleetState.ConfigurationHash.ToByteArray();
        Genesis = genesis.FleetState.Genesis;
        Entries[1] = Genesis;

        Expect(Join(members, members[1].Enclave, 1), EnclaveResponse.KindOneofCase.FleetState, "join of member 1");

        // The join a fresh member 2 will make: its challenge (the same nonce every time, from its seed), vouched by members 0 and 1 at genesis.
        (FleetEnclave seedJoiner, _, byte[] seedNonce) = Joiner();
        JoinSeed = JoinRequestFor(members, 2, seedNonce);
        Expect(Call(seedJoiner, new EnclaveRequest { Join = JoinSeed }), EnclaveResponse.KindOneofCase.FleetState, "seed join");
        Expect(Join(members, members[2].Enclave, 2), EnclaveResponse.KindOneofCase.FleetState, "join of member 2");

        // Member 0 leads; alice registers.
        Expect(Call(members[0].Enclave, new EnclaveRequest { BecomeLeader = new BecomeLeaderRequest { Entry = Genesis } }), EnclaveResponse.KindOneofCase.FleetState, "become leader");
        Round(members, []);
        TestClient client = NewClient(21);
        byte[] alice = VaultWorld.Alice;
        byte[] registration = client.Opaque.CreateRegistrationRequest(Password, out ClientRegistrationState state);
        VaultResponse started = Send(members, client, alice, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(registration) } });
        byte[] record = client.Opaque.FinalizeRegistration(state, started.RegisterStarted.RegistrationResponse.Span, AkePublicKey, alice).Record;
        Send(members, client, alice, new VaultRequest
        {
            RegisterFinish = new RegisterFinish { RegistrationSession = started.RegisterStarted.RegistrationSession, RegistrationRecord = ByteString.CopyFrom(record), EncryptedKeyBlob = ByteString.CopyFrom(new byte[48]) },
        });
        for (int i = 0; i < 3; i++)
        {
            _nvram[i] = members[i].Hsm.ReadNvram();
        }

        Store4 = Store6 = Store4.Fork();
        byte[] ke1 = client.Opaque.GenerateKE1(Password, out _);
        LoginStartAlice = Operation(client, Store4, alice, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(ke1) } }, 1, out PendingChannelResponse pending);
        pending.Dispose();

        // What the per-input leader does, once here to learn its entries 5 and 6 and the statements on them.
        Leader(learn: true);
        foreach (int i in new[] { 1, 2 })
        {
            FirstCommit.Add(Capture(members[i].Enclave, Entries[5]));
        }

        Leader(learn: true);
        (FleetEnclave own, _) = NewMember(0, _nvram[0]);
        Expect(Call(own, Open()), EnclaveResponse.KindOneofCase.FleetState, "open");
        Capture(own, Entries[5]);
        Entry6Statements[0] = Capture(own, Entries[6]);
        Entry6Statements[1] = Capture(members[1].Enclave, Entries[6]);
        Entry6Statements[2] = Capture(members[2].Enclave, Entries[6]);
    }

    private static byte[] OperatorPublicKey()
    {
        byte[] d = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];
        using var key = System.Security.Cryptography.ECDsa.Create(new System.Security.Cryptography.ECParameters { Curve = System.Security.Cryptography.ECCurve.NamedCurves.nistP256, D = d });
        System.Security.Cryptography.ECParameters pub = key.ExportParameters(false);
        return [0x04, .. pub.Q.X!, .. pub.Q.Y!];
    }

    private EnclaveResponse Join((FleetEnclave Enclave, InMemoryHsmServices Hsm)[] members, FleetEnclave joiner, int index)
    {
        EnclaveResponse challenge = Expect(Call(joiner, new EnclaveRequest { JoinChallenge = new JoinChallengeRequest() }), EnclaveResponse.KindOneofCase.JoinChallenge, "challenge");
        return Call(joiner, new EnclaveRequest { Join = JoinRequestFor(members, index, challenge.JoinChallenge.Nonce.ToByteArray()) });
    }

    // Vouches from every other member for member `index` and its challenge `nonce`.
    private JoinRequest JoinRequestFor((FleetEnclave Enclave, InMemoryHsmServices Hsm)[] members, int index, byte[] nonce)
    {
        var join = new JoinRequest { Configuration = Configuration, FleetId = ByteString.CopyFrom(FleetId) };
        for (int v = 0; v < members.Length; v++)
        {
            if (v == index)
            {
                continue;
            }

            EnclaveResponse vouch = Call(members[v].Enclave, new EnclaveRequest
            {
                Vouch = new VouchRequest { FleetId = ByteString.CopyFrom(FleetId), ConfigurationHash = ByteString.CopyFrom(ConfigurationHash), Joiner = ByteString.CopyFrom(MemberIds[index]), Nonce = ByteString.CopyFrom(nonce) },
            });
            if (vouch.KindCase == EnclaveResponse.KindOneofCase.Vouch)
            {
                join.Vouches.Add(vouch.Vouch);
            }
        }

        return join;
    }

    private void Round((FleetEnclave Enclave, InMemoryHsmServices Hsm)[] members, IEnumerable<Operation> operations, List<OperationResult>? released = null)
    {
        var batch = new Batch();
        batch.Operations.AddRange(operations);
        EnclaveResponse applied = Expect(Call(members[0].Enclave, new EnclaveRequest { Batch = batch }), EnclaveResponse.KindOneofCase.FleetBatch, "batch");
        FleetEntry entry = applied.FleetBatch.Entry;
        Entries[entry.Index] = entry;
        Store4.Apply(applied.FleetBatch.Writes);
        var commit = new CommitRequest();
        foreach ((FleetEnclave enclave, _) in members)
        {
            commit.Statements.Add(Capture(enclave, entry));
        }

        EnclaveResponse committed = Expect(Call(members[0].Enclave, new EnclaveRequest { Commit = commit }), EnclaveResponse.KindOneofCase.Commit, "commit");
        released?.AddRange(committed.Commit.Released);
        released?.AddRange(applied.FleetBatch.Immediate);
    }

    private VaultResponse Send((FleetEnclave Enclave, InMemoryHsmServices Hsm)[] members, TestClient client, byte[] user, VaultRequest request)
    {
        Operation operation = Operation(client, Store4, user, request, 1, out PendingChannelResponse pending);
        var released = new List<OperationResult>();
        Round(members, [operation], released);
        using (pending)
        {
            VaultResponse answer = TestClient.Open(pending, released.Single(r => r.Tag == 1).Client, "fleet fixture");
            return answer.ResultCase == VaultResponse.ResultOneofCase.Error ? throw new InvalidOperationException($"the fleet fixture's request failed: {answer}") : answer;
        }
    }

    private static CapturedStatement Capture(FleetEnclave enclave, FleetEntry entry)
    {
        var capture = new CaptureRequest();
        capture.Entries.Add(entry);
        EnclaveResponse response = Expect(Call(enclave, new EnclaveRequest { Capture = capture }), EnclaveResponse.KindOneofCase.Capture, "capture");
        return response.Capture.Outcome == CaptureOutcome.CaptureOk ? response.Capture.Statement : throw new InvalidOperationException($"capture failed: {response}");
    }

    private static EnclaveResponse Expect(EnclaveResponse response, EnclaveResponse.KindOneofCase kind, string step) =>
        response.KindCase == kind ? response : throw new InvalidOperationException($"fleet fixture, {step}: expected {kind}, got {response}");
}
