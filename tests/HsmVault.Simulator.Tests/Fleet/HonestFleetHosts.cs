using Google.Protobuf;
using HsmVault.Enclave;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Simulator.Tests.Fleet;

/// <summary>
/// The honest hosts of docs/REPLICATION.md in front of a few fleet members, each reached through any
/// transport (a FleetEnclave in this process over a SoftHSM2 token, or a <c>serve --fleet</c> simulator
/// over its bridge): one log for the fleet with the records its entries wrote, genesis on member 0
/// and a join for every other, elections, and rounds of apply, store, capture and commit.
/// </summary>
internal sealed class HonestFleetHosts
{
    private readonly Func<EnclaveRequest, EnclaveResponse>[] _members;
    private readonly List<FleetEntry> _log = [];
    private readonly InMemoryRecordStore _records = new();
    private ulong _lastTag;

    /// <param name="members">How to reach each member, in configuration order.</param>
    /// <param name="identityPublicKeys">Each member's identity public key (SEC1 compressed), in the same order.</param>
    /// <param name="akePublicKey">The fleet's AKE public key, for clients.</param>
    /// <param name="channelPublicKey">The fleet's channel public key, for clients.</param>
    public HonestFleetHosts(
        IReadOnlyList<Func<EnclaveRequest, EnclaveResponse>> members, IReadOnlyList<byte[]> identityPublicKeys, byte[] akePublicKey, byte[] channelPublicKey)
    {
        _members = [.. members];
        AkePublicKey = akePublicKey;
        ChannelPublicKey = channelPublicKey;
        Configuration = new FleetConfiguration
        {
            Quorum = (uint)((members.Count / 2) + 1),
            AttemptLimit = VaultPolicy.DefaultAttemptLimit,
            OpaqueContext = VaultPolicy.DefaultOpaqueContext,
        };
        Configuration.Members.AddRange(identityPublicKeys.Select(key => new FleetMemberKey { IdentityPublicKey = ByteString.CopyFrom(key) }));
    }

    public FleetConfiguration Configuration { get; }

    public byte[] AkePublicKey { get; }

    public byte[] ChannelPublicKey { get; }

    public ByteString FleetId { get; private set; } = ByteString.Empty;

    /// <summary>The entries stored so far, genesis first.</summary>
    public IReadOnlyList<FleetEntry> Log => _log;

    /// <summary>The member that leads, or -1.</summary>
    public int Leader { get; private set; } = -1;

    /// <summary>What each member answered to the capture of the last round.</summary>
    public IReadOnlyList<CaptureResult> LastCaptures { get; private set; } = [];

    public EnclaveResponse Call(int member, EnclaveRequest request) => _members[member](request);

    public FleetState State(int member) =>
        Expect(Call(member, new EnclaveRequest { FleetState = new FleetStateQuery() }), EnclaveResponse.KindOneofCase.FleetState, $"state of member {member}").FleetState;

    /// <summary>Genesis on member 0, then every other member joins with a vouch from each of the others.</summary>
    public void Form()
    {
        FleetState genesis = Expect(
            Call(0, new EnclaveRequest { FleetGenesis = new FleetGenesisRequest { Configuration = Configuration } }),
            EnclaveResponse.KindOneofCase.FleetState,
            "genesis on member 0").FleetState;
        FleetId = genesis.FleetId;
        _log.Add(genesis.Genesis);
        for (int joiner = 1; joiner < _members.Length; joiner++)
        {
            ByteString joinerId = State(joiner).Member;
            ByteString nonce = Expect(Call(joiner, new EnclaveRequest { JoinChallenge = new JoinChallengeRequest() }), EnclaveResponse.KindOneofCase.JoinChallenge, "join challenge").JoinChallenge.Nonce;
            var join = new JoinRequest { Configuration = Configuration, FleetId = FleetId };
            for (int voucher = 0; voucher < _members.Length; voucher++)
            {
                if (voucher == joiner)
                {
                    continue;
                }

                var vouch = new VouchRequest { FleetId = FleetId, ConfigurationHash = genesis.ConfigurationHash, Joiner = joinerId, Nonce = nonce };
                join.Vouches.Add(Expect(Call(voucher, new EnclaveRequest { Vouch = vouch }), EnclaveResponse.KindOneofCase.Vouch, $"vouch of member {voucher} for {joiner}").Vouch);
            }

            Expect(Call(joiner, new EnclaveRequest { Join = join }), EnclaveResponse.KindOneofCase.FleetState, $"join of member {joiner}");
        }
    }

    /// <summary>Catches <paramref name="member"/> up on the log, makes it leader and commits its empty first entry.</summary>
    public void Elect(int member)
    {
        CatchUp(member);
        Expect(Call(member, new EnclaveRequest { BecomeLeader = new BecomeLeaderRequest { Entry = _log[^1] } }), EnclaveResponse.KindOneofCase.FleetState, $"member {member} becomes leader");
        Leader = member;
        ulong first = _log[^1].Index + 1;
        Assert.AreEqual(first, Round([]).CommittedIndex, "the new leader's first entry commits");
    }

    /// <summary>The leader drops its RAM; it releases nothing more.</summary>
    public void StepDown()
    {
        Expect(Call(Leader, new EnclaveRequest { StepDown = new StepDownRequest() }), EnclaveResponse.KindOneofCase.FleetState, "step down");
        Leader = -1;
    }

    /// <summary>Has <paramref name="member"/> capture every stored entry beyond the one it captured last.</summary>
    public CaptureResult CatchUp(int member)
    {
        ulong captured = State(member).CapturedIndex;
        var capture = new CaptureRequest();
        capture.Entries.AddRange(_log.Where(entry => entry.Index > captured));
        return Expect(Call(member, new EnclaveRequest { Capture = capture }), EnclaveResponse.KindOneofCase.Capture, $"capture on member {member}").Capture;
    }

    /// <summary>One round: the leader applies <paramref name="operations"/> into an entry, the hosts store it, every member captures it, the leader commits.</summary>
    public CommitResult Round(IEnumerable<Operation> operations)
    {
        var batch = new Batch();
        batch.Operations.AddRange(operations);
        FleetBatchResult applied = Expect(Call(Leader, new EnclaveRequest { Batch = batch }), EnclaveResponse.KindOneofCase.FleetBatch, "batch").FleetBatch;
        _log.Add(applied.Entry);
        _records.Apply(applied.Writes);
        var commit = new CommitRequest();
        var captures = new List<CaptureResult>();
        for (int member = 0; member < _members.Length; member++)
        {
            CaptureResult captured = CatchUp(member);
            captures.Add(captured);
            commit.Statements.Add(captured.Statement);
        }

        LastCaptures = captures;
        CommitResult committed = Expect(Call(Leader, new EnclaveRequest { Commit = commit }), EnclaveResponse.KindOneofCase.Commit, "commit").Commit;
        committed.Released.AddRange(applied.Immediate);
        return committed;
    }

    /// <summary>Seals <paramref name="request"/> to the fleet as a client does, runs it through one round and opens the answer.</summary>
    public VaultResponse Send(UserRequest request)
    {
        ulong tag = ++_lastTag;
        using SealedRequest sealedRequest = SealedRequest.Seal(ChannelPublicKey, request, tag);
        CommitResult result = Round([new Operation { Tag = tag, Client = sealedRequest.Request, Witness = _records.WitnessFor(request.UserId) }]);
        return sealedRequest.Open(result.Released.Single(released => released.Tag == tag).Client);
    }

    private static EnclaveResponse Expect(EnclaveResponse response, EnclaveResponse.KindOneofCase kind, string step)
    {
        Assert.AreEqual(kind, response.KindCase, $"{step}: {response}");
        return response;
    }
}
