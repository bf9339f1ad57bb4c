using Google.Protobuf;
using HsmVault.Enclave.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Simulator;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Fleet;

/// <summary>
/// N fleet members in one process, each with its own seeded in-memory HSM (shared fleet keys, its
/// own identity key and NVRAM) and its own host store, plus the honest host steps of
/// docs/REPLICATION.md: form the fleet, elect a leader, and run a batch through apply, store,
/// capture and commit. Tests and the simulation break these steps apart to play a hostile host.
/// </summary>
internal sealed class TestFleet
{
    private readonly ulong _fleetSeed;
    private ulong _clientSeed;

    private readonly ulong _memberSeedBase;

    /// <summary>
    /// <paramref name="seed"/> gives the fleet keys (shared by every member); <paramref name="memberSeedBase"/>
    /// the members' identity keys and random streams (distinct physical HSMs).
    /// </summary>
    public TestFleet(int members, ulong seed = 1, uint attemptLimit = 10, ulong memberSeedBase = 0)
    {
        _fleetSeed = seed;
        _memberSeedBase = memberSeedBase;
        _clientSeed = seed * 7919;
        Nvram = [.. Enumerable.Range(0, members).Select(_ => new InMemoryNvram())];
        Hsm = new InMemoryHsmServices[members];
        Enclaves = new FleetEnclave[members];
        Stores = [.. Enumerable.Range(0, members).Select(_ => new FleetHostStore())];
        for (int i = 0; i < members; i++)
        {
            Restart(i);
        }

        Configuration = new FleetConfiguration { Quorum = (uint)((members / 2) + 1), AttemptLimit = attemptLimit, OpaqueContext = VaultPolicy.DefaultOpaqueContext };
        Configuration.Members.AddRange(Hsm.Select(h => new FleetMemberKey { IdentityPublicKey = ByteString.CopyFrom(h.IdentityPublicKey) }));
    }

    public int Size => Enclaves.Length;

    public InMemoryNvram[] Nvram { get; }

    public InMemoryHsmServices[] Hsm { get; }

    public FleetEnclave[] Enclaves { get; }

    public FleetHostStore[] Stores { get; }

    public FleetConfiguration Configuration { get; }

    public byte[] FleetId { get; private set; } = [];

    public int Leader { get; private set; } = -1;

    /// <summary>The current leader's chain: its store's entries at election, then every entry it wrote.</summary>
    public List<FleetEntry> LeaderChain { get; } = [];

    public byte[] ChannelPublicKey => Hsm[0].ChannelPublicKey;

    public byte[] AkePublicKey => Hsm[0].AkePublicKey;

    /// <summary>A new enclave instance over the same NVRAM: the HSM restarted and lost its RAM.</summary>
    public void Restart(int member)
    {
        Hsm[member] = new InMemoryHsmServices(_fleetSeed, _memberSeedBase + (ulong)member + 1, Nvram[member]);
        Enclaves[member] = new FleetEnclave(Hsm[member]);
        if (Leader == member)
        {
            Leader = -1;
        }
    }

    public EnclaveResponse Call(int member, EnclaveRequest request) => EnclaveResponse.Parser.ParseFrom(Enclaves[member].Handle(request.ToByteArray()));

    /// <summary>Genesis on member 0, then every other member joins with a vouch from all the others.</summary>
    public void Form()
    {
        EnclaveResponse genesis = Call(0, new EnclaveRequest { FleetGenesis = new FleetGenesisRequest { Configuration = Configuration } });
        Expect(genesis, EnclaveResponse.KindOneofCase.FleetState, "genesis");
        FleetId = genesis.FleetState.FleetId.ToByteArray();
        FleetEntry entry = genesis.FleetState.Genesis;
        foreach (FleetHostStore store in Stores)
        {
            store.Append(entry, []);
        }

        for (int i = 1; i < Size; i++)
        {
            EnclaveResponse joined = Join(i, Enumerable.Range(0, Size).Where(v => v != i));
            Expect(joined, EnclaveResponse.KindOneofCase.FleetState, $"join of member {i}");
        }
    }

    /// <summary>The join protocol for <paramref name="member"/>: a challenge, vouches from <paramref name="vouchers"/>, the join.</summary>
    public EnclaveResponse Join(int member, IEnumerable<int> vouchers)
    {
        EnclaveResponse challenge = Call(member, new EnclaveRequest { JoinChallenge = new JoinChallengeRequest() });
        Expect(challenge, EnclaveResponse.KindOneofCase.JoinChallenge, "join challenge");
        var join = new JoinRequest { Configuration = Configuration, FleetId = ByteString.CopyFrom(FleetId) };
        foreach (int voucher in vouchers)
        {
            EnclaveResponse vouch = Call(voucher, new EnclaveRequest
            {
                Vouch = new VouchRequest
                {
                    FleetId = ByteString.CopyFrom(FleetId),
                    ConfigurationHash = ByteString.CopyFrom(ConfigurationHash),
                    Joiner = ByteString.CopyFrom(Enclaves[member].MemberId),
                    Nonce = challenge.JoinChallenge.Nonce,
                },
            });
            if (vouch.KindCase == EnclaveResponse.KindOneofCase.Vouch)
            {
                join.Vouches.Add(vouch.Vouch);
            }
        }

        return Call(member, new EnclaveRequest { Join = join });
    }

    public byte[] ConfigurationHash => FleetMacs.ConfigurationHash(Configuration);

    /// <summary>The MAC of the entry the member captured last.</summary>
    public byte[] CaptureMac(int member) => Call(member, new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState.CapturedMac.ToByteArray();

    /// <summary>An empty capture, to see whether the member serves at all.</summary>
    public EnclaveResponse CallCapture(int member) => Call(member, new EnclaveRequest { Capture = new CaptureRequest() });

    public EnclaveResponse Open(int member) => Call(member, new EnclaveRequest { FleetOpen = new FleetOpenRequest { Configuration = Configuration } });

    /// <summary>Catches <paramref name="member"/> up from its store and makes it leader, then commits an empty first entry through <paramref name="reachable"/>.</summary>
    public void Elect(int member, IReadOnlyCollection<int>? reachable = null)
    {
        reachable ??= [.. Enumerable.Range(0, Size)];

        // The log is the fleet's store, not one host's: a candidate reads it whole (first writer
        // wins at each index, so it holds one chain), whatever HSM messages a partition blocks.
        SyncStore(member, Enumerable.Range(0, Size));
        CatchUp(member);
        FleetEntry tail = Stores[member].Last!;
        Expect(Call(member, new EnclaveRequest { BecomeLeader = new BecomeLeaderRequest { Entry = tail } }), EnclaveResponse.KindOneofCase.FleetState, "become leader");
        Leader = member;
        LeaderChain.Clear();
        LeaderChain.AddRange(Stores[member].After(0).Select(e => e.Entry));
        CommitResult first = Round([], reachable);
        if (first.CommittedIndex == 0)
        {
            throw new InvalidOperationException("the new leader's first entry did not commit");
        }
    }

    /// <summary>
    /// What an honest host does to bring its store in line: from the stores of <paramref name="from"/>
    /// that hold the entry its member captured last, take the longest; extend its own store from it,
    /// or, when its own store is on another branch or was rolled back, copy it whole.
    /// </summary>
    public void SyncStore(int member, IEnumerable<int> from)
    {
        FleetState state = Call(member, new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState;
        bool Holds(FleetHostStore store) => state.CapturedIndex == 0 || store.At(state.CapturedIndex)?.Mac.Equals(state.CapturedMac) == true;
        FleetHostStore? source = from.Select(i => Stores[i]).Where(Holds).MaxBy(s => s.LastIndex);
        if (source is null || ReferenceEquals(source, Stores[member]))
        {
            return;
        }

        FleetHostStore own = Stores[member];
        if (!Holds(own) || (own.Last is { } last && source.At(last.Index)?.Mac.Equals(last.Mac) != true))
        {
            own.CopyFrom(source);
            return;
        }

        foreach ((FleetEntry entry, List<RecordWrite> writes) in source.After(own.LastIndex))
        {
            own.Append(entry, writes);
        }
    }



    /// <summary>Has the member capture every stored entry beyond its captured index.</summary>
    public CaptureResult CatchUp(int member)
    {
        FleetState state = Call(member, new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState;
        var capture = new CaptureRequest();
        capture.Entries.AddRange(Stores[member].After(state.CapturedIndex).Select(e => e.Entry));
        return Call(member, new EnclaveRequest { Capture = capture }).Capture;
    }

    /// <summary>
    /// One honest host round: the leader applies <paramref name="operations"/> into an entry, every
    /// reachable host stores it and has its member capture it, the leader commits on the statements.
    /// </summary>
    public CommitResult Round(IEnumerable<Operation> operations, IReadOnlyCollection<int>? reachable = null)
    {
        reachable ??= [.. Enumerable.Range(0, Size)];
        var batch = new Batch();
        batch.Operations.AddRange(operations);
        EnclaveResponse applied = Call(Leader, new EnclaveRequest { Batch = batch });
        Expect(applied, EnclaveResponse.KindOneofCase.FleetBatch, "batch");
        FleetBatchResult result = applied.FleetBatch;
        LeaderChain.Add(result.Entry);
        var commit = new CommitRequest();
        Stores[Leader].Append(result.Entry, result.Writes);
        foreach (int member in reachable)
        {
            // The leader's host ships what it stored; each host stores first, then its member
            // captures: no member's NVRAM runs ahead of its host's store.
            SyncStore(member, [Leader]);
            // A member that lost its NVRAM refuses to capture: it gives no statement.
            if (CatchUp(member) is { Statement: { } statement })
            {
                commit.Statements.Add(statement);
            }
        }

        EnclaveResponse committed = Call(Leader, new EnclaveRequest { Commit = commit });
        Expect(committed, EnclaveResponse.KindOneofCase.Commit, "commit");
        committed.Commit.Released.AddRange(result.Immediate);
        return committed.Commit;
    }

    /// <summary>Wraps a client request with the user's witness from the leader's store.</summary>
    public Operation OperationFor(ulong tag, ClientRequest request) =>
        new() { Tag = tag, Client = request, Witness = Stores[Leader].WitnessFor(request.UserId) };

    /// <summary>Seals <paramref name="request"/> to the fleet's channel key with this fleet's seeded client randomness.</summary>
    public SealedRequest Seal(UserRequest request, ulong requestId = 0) =>
        SealedRequest.Seal(ChannelPublicKey, request, requestId, new Vault.SeededRandomSource(++_clientSeed));

    /// <summary>Seals, sends through one honest round and opens the answer.</summary>
    public VaultResponse Send(UserRequest request, IReadOnlyCollection<int>? reachable = null)
    {
        using SealedRequest sealedRequest = Seal(request, 1);
        CommitResult result = Round([OperationFor(1, sealedRequest.Request)], reachable);
        OperationResult answer = result.Released.Single(r => r.Tag == 1);
        return sealedRequest.Open(answer.Client);
    }

    public static void Expect(EnclaveResponse response, EnclaveResponse.KindOneofCase kind, string step)
    {
        if (response.KindCase != kind)
        {
            throw new InvalidOperationException($"{step}: expected {kind}, got {response}");
        }
    }
}
