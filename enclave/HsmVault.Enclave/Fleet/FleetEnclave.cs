using System.Security.Cryptography;
using Google.Protobuf;
using HsmVault.Protocol;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Fleet;

/// <summary>
/// One member of a fleet (docs/REPLICATION.md): a witness that captures the fleet's MAC-chained
/// log into NVRAM and vouches for it, and, when the hosts make it leader, the one that turns batches
/// into entries. A leader separates <em>apply</em> (a batch becomes an entry; its answers are held)
/// from <em>release</em> (a quorum of captured statements commits the entry; its answers leave).
/// Everything durable is the 89-byte NVRAM; the leader's log and held answers are RAM and are lost
/// with a restart, which is safe: nothing held was ever released.
/// </summary>
public sealed class FleetEnclave
{
    /// <summary>The genesis entry's index.</summary>
    public const ulong GenesisIndex = 1;

    /// <summary>Most members a configuration may list.</summary>
    public const int MaxMembers = 15;

    private readonly IHsmServices _hsm;
    private readonly byte[] _memberId;
    private readonly int _maxBatchOperations;
    private FleetNvram? _nvram;
    private bool _nvramLoaded;
    private Opened? _opened;
    private LeaderLog? _leader;
    private byte[]? _joinNonce;

    /// <summary>A member over <paramref name="hsm"/>; what fleet it is in comes from its NVRAM, never from the caller.</summary>
    public FleetEnclave(IHsmServices hsm, int maxBatchOperations = 64)
    {
        ArgumentNullException.ThrowIfNull(hsm);
        _hsm = hsm;
        _memberId = FleetMacs.MemberId(hsm.IdentityPublicKey);
        _maxBatchOperations = maxBatchOperations;
    }

    /// <summary>This member's id (16 bytes).</summary>
    public byte[] MemberId => (byte[])_memberId.Clone();

    /// <summary>Handles an encoded request; never throws for any input.</summary>
    public byte[] Handle(ReadOnlySpan<byte> request) => EnclaveRequestBytes.Handle(request, VaultPolicy.Default.MaxRequestBytes, Handle);

    /// <summary>Handles one request. Never throws: a failure is an <see cref="EnclaveError"/> and changes nothing.</summary>
    public EnclaveResponse Handle(EnclaveRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            return request.KindCase switch
            {
                EnclaveRequest.KindOneofCase.FleetGenesis => Genesis(request.FleetGenesis.Configuration),
                EnclaveRequest.KindOneofCase.FleetOpen => Open(request.FleetOpen.Configuration),
                EnclaveRequest.KindOneofCase.JoinChallenge => JoinChallenge(),
                EnclaveRequest.KindOneofCase.Vouch => Vouch(request.Vouch),
                EnclaveRequest.KindOneofCase.Join => Join(request.Join),
                EnclaveRequest.KindOneofCase.Capture => Capture(request.Capture),
                EnclaveRequest.KindOneofCase.BecomeLeader => BecomeLeader(request.BecomeLeader.Entry),
                EnclaveRequest.KindOneofCase.Batch => Batch(request.Batch),
                EnclaveRequest.KindOneofCase.Commit => Commit(request.Commit),
                EnclaveRequest.KindOneofCase.StepDown => StepDown(),
                EnclaveRequest.KindOneofCase.FleetState => State(),
                _ => Error(EnclaveErrorCode.MalformedRequest, $"request.kind: {request.KindCase} is not a fleet member's request"),
            };
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Fail closed: re-read NVRAM before anything else, and drop the leader's RAM.
            _nvramLoaded = false;
            _leader = null;
            return Error(EnclaveErrorCode.EnclaveInternal, $"internal failure ({ex.GetType().Name}); nothing was committed");
        }
    }

    private EnclaveResponse Genesis(FleetConfiguration? configuration)
    {
        if (Nvram() is not null)
        {
            return Error(EnclaveErrorCode.FleetRefused, "fleet_genesis: this member already belongs to a fleet");
        }

        if (CheckConfiguration(configuration) is { } problem)
        {
            return Error(EnclaveErrorCode.FleetRefused, problem);
        }

        if (!configuration!.Members[0].IdentityPublicKey.Span.SequenceEqual(_hsm.IdentityPublicKey))
        {
            return Error(EnclaveErrorCode.FleetRefused, "fleet_genesis.configuration.members[0]: genesis runs on the first member, and this is not it");
        }

        byte[] fleetId = new byte[FleetMacs.FleetIdBytes];
        _hsm.GetRandom(fleetId);
        byte[] configurationHash = FleetMacs.ConfigurationHash(configuration);
        var genesis = new FleetEntry
        {
            Index = GenesisIndex,
            PrevMac = ByteString.CopyFrom(new byte[FleetMacs.MacBytes]),
            MerkleRoot = ByteString.CopyFrom(MerkleHashing.Empty),
            Leader = ByteString.CopyFrom(_memberId),
        };
        genesis.Mac = ByteString.CopyFrom(EntryMac(fleetId, configurationHash, genesis));
        WriteNvram(new FleetNvram(fleetId, configurationHash, GenesisIndex, genesis.Mac.ToByteArray()));
        _opened = new Opened(_hsm, configuration, fleetId, configurationHash);
        EnclaveResponse state = State();
        state.FleetState.Genesis = genesis;
        return state;
    }

    private EnclaveResponse Open(FleetConfiguration? configuration)
    {
        if (Nvram() is not { } nvram)
        {
            return Error(EnclaveErrorCode.NotInitialized, "fleet_open: this member has joined no fleet");
        }

        if (CheckConfiguration(configuration) is { } problem)
        {
            return Error(EnclaveErrorCode.FleetRefused, problem);
        }

        if (!FleetMacs.ConfigurationHash(configuration!).AsSpan().SequenceEqual(nvram.ConfigurationHash))
        {
            // An enclave started with another attempt limit, operator key or membership refuses to serve.
            return Error(EnclaveErrorCode.FleetRefused, "fleet_open.configuration: does not hash to the configuration this member's NVRAM is bound to; refusing to serve");
        }

        _opened = new Opened(_hsm, configuration!, nvram.FleetId, nvram.ConfigurationHash);
        return State();
    }

    private EnclaveResponse JoinChallenge()
    {
        if (Nvram() is not null)
        {
            return Error(EnclaveErrorCode.FleetRefused, "join_challenge: this member already belongs to a fleet");
        }

        _joinNonce = new byte[FleetMacs.NonceBytes];
        _hsm.GetRandom(_joinNonce);
        return new EnclaveResponse { JoinChallenge = new JoinChallenge { Nonce = ByteString.CopyFrom(_joinNonce) } };
    }

    // A joined member states where it is; a member that has joined nothing states that it is empty
    // (index 0), which only counts towards a join while the fleet forms.
    private EnclaveResponse Vouch(VouchRequest request)
    {
        if (request.Joiner.Span.SequenceEqual(_memberId) || request.Joiner.Length != FleetMacs.MemberIdBytes || request.Nonce.Length != FleetMacs.NonceBytes)
        {
            return Error(EnclaveErrorCode.FleetRefused, "vouch: the joiner must be another member's 16-byte id and the nonce 32 bytes");
        }

        ulong index = 0;
        byte[] entryMac = new byte[FleetMacs.MacBytes];
        if (Nvram() is { } nvram)
        {
            if (RequireOpen() is { } closed)
            {
                return closed;
            }

            Opened opened = _opened!;
            if (!request.FleetId.Span.SequenceEqual(opened.FleetId) || !request.ConfigurationHash.Span.SequenceEqual(opened.ConfigurationHash) || !opened.IsMember(request.Joiner.Span))
            {
                return Error(EnclaveErrorCode.FleetRefused, "vouch: for another fleet, configuration or joiner");
            }

            (index, entryMac) = (nvram.CapturedIndex, nvram.CapturedMac);
        }

        byte[] mac = _hsm.Hmac(HsmHmacKey.LogMac, FleetMacs.VouchInput(
            request.FleetId.Span, request.ConfigurationHash.Span, _memberId, request.Joiner.Span, request.Nonce.Span, index, entryMac));
        return new EnclaveResponse
        {
            Vouch = new VouchStatement
            {
                Voucher = ByteString.CopyFrom(_memberId),
                Index = index,
                EntryMac = ByteString.CopyFrom(entryMac),
                Mac = ByteString.CopyFrom(mac),
            },
        };
    }

    private EnclaveResponse Join(JoinRequest request)
    {
        if (Nvram() is not null)
        {
            return Error(EnclaveErrorCode.FleetRefused, "join: this member already belongs to a fleet");
        }

        if (_joinNonce is not { } nonce)
        {
            return Error(EnclaveErrorCode.FleetRefused, "join: no join challenge is outstanding (ask for one first; a restart forgets it)");
        }

        if (CheckConfiguration(request.Configuration) is { } problem)
        {
            return Error(EnclaveErrorCode.FleetRefused, problem);
        }

        FleetConfiguration configuration = request.Configuration;
        var opened = new Opened(_hsm, configuration, request.FleetId.ToByteArray(), FleetMacs.ConfigurationHash(configuration));
        if (request.FleetId.Length != FleetMacs.FleetIdBytes || !opened.IsMember(_memberId))
        {
            return Error(EnclaveErrorCode.FleetRefused, "join: the fleet id is not 16 bytes, or this member is not in the configuration");
        }


        var vouchers = new HashSet<string>(StringComparer.Ordinal);
        int joinedVouchers = 0;
        bool allAtGenesisOrEmpty = true;
        VouchStatement? highest = null;
        foreach (VouchStatement vouch in request.Vouches)
        {
            if (vouch.Voucher.Span.SequenceEqual(_memberId) || !opened.IsMember(vouch.Voucher.Span) || vouch.EntryMac.Length != FleetMacs.MacBytes)
            {
                return Error(EnclaveErrorCode.FleetRefused, "join.vouches: a voucher is not another member of the configuration");
            }

            byte[] expected = _hsm.Hmac(HsmHmacKey.LogMac, FleetMacs.VouchInput(
                opened.FleetId, opened.ConfigurationHash, vouch.Voucher.Span, _memberId, nonce, vouch.Index, vouch.EntryMac.Span));
            if (!CryptographicOperations.FixedTimeEquals(expected, vouch.Mac.Span))
            {
                return Error(EnclaveErrorCode.FleetRefused, "join.vouches: a vouch does not verify for this fleet, joiner and challenge (forged or replayed)");
            }

            if (!vouchers.Add(Convert.ToHexString(vouch.Voucher.Span)))
            {
                return Error(EnclaveErrorCode.FleetRefused, "join.vouches: the same voucher twice");
            }

            allAtGenesisOrEmpty &= vouch.Index <= GenesisIndex;
            if (vouch.Index == 0)
            {
                continue;
            }

            joinedVouchers++;
            if (highest is not null && vouch.Index == highest.Index && !vouch.EntryMac.Equals(highest.EntryMac))
            {
                return Error(EnclaveErrorCode.FleetRefused, "join.vouches: two members vouch different entries at one index");
            }

            if (highest is null || vouch.Index > highest.Index)
            {
                highest = vouch;
            }
        }

        // Joining happens only while the fleet forms: every other member says "empty or at genesis",
        // so nothing has committed. A member that lost its NVRAM later never joins again under
        // its identity: statements it made before the loss stay valid, and a leader could count
        // them beside its new votes (found by the spin model, model/README.md). It is replaced.
        bool forming = allAtGenesisOrEmpty && vouchers.Count == configuration.Members.Count - 1;
        if (highest is null || !forming)
        {
            return Error(EnclaveErrorCode.FleetRefused,
                $"join.vouches: {joinedVouchers} joined and {vouchers.Count - joinedVouchers} empty members vouch; joining needs every other member, each at genesis or empty (the fleet has moved on: a member that lost its NVRAM must be replaced)");
        }

        _joinNonce = null;
        _leader = null;
        WriteNvram(new FleetNvram(opened.FleetId, opened.ConfigurationHash, highest.Index, highest.EntryMac.ToByteArray()));
        _opened = opened;
        return State();
    }

    private EnclaveResponse Capture(CaptureRequest request)
    {
        if (RequireOpen() is { } closed)
        {
            return closed;
        }

        Opened opened = _opened!;
        FleetNvram nvram = Nvram()!;
        ulong index = nvram.CapturedIndex;
        byte[] mac = nvram.CapturedMac;
        var outcome = CaptureOutcome.CaptureOk;
        string detail = "";
        foreach (FleetEntry entry in request.Entries)
        {
            if (!CryptographicOperations.FixedTimeEquals(EntryMac(opened.FleetId, opened.ConfigurationHash, entry), entry.Mac.Span) || !IsWellFormed(entry))
            {
                (outcome, detail) = (CaptureOutcome.CaptureForged, $"entry {entry.Index}: its MAC does not verify for this fleet and configuration");
                break;
            }

            if (entry.Index <= index)
            {
                (outcome, detail) = (CaptureOutcome.CaptureStale, $"entry {entry.Index}: at or below the captured index {index}");
                break;
            }

            if (entry.Index > index + 1)
            {
                (outcome, detail) = (CaptureOutcome.CaptureGap, $"entry {entry.Index}: the next index is {index + 1}");
                break;
            }

            if (!entry.PrevMac.Span.SequenceEqual(mac))
            {
                (outcome, detail) = (CaptureOutcome.CaptureFork, $"entry {entry.Index}: does not chain to the captured entry (another leader's branch)");
                break;
            }

            // A leader that sees another entry at an index it wrote has been replaced: it must not release anything.
            if (_leader?.Conflicts(entry) == true)
            {
                _leader = null;
            }

            index = entry.Index;
            mac = entry.Mac.ToByteArray();
        }

        if (index != nvram.CapturedIndex)
        {
            // One NVRAM write for the whole run of entries (group commit).
            WriteNvram(nvram with { CapturedIndex = index, CapturedMac = mac });
        }

        return new EnclaveResponse
        {
            Capture = new CaptureResult
            {
                Outcome = outcome,
                Statement = Statement(opened, index, mac),
                CapturedIndex = index,
                Detail = detail,
            },
        };
    }

    private EnclaveResponse BecomeLeader(FleetEntry? entry)
    {
        if (RequireOpen() is { } closed)
        {
            return closed;
        }

        Opened opened = _opened!;
        FleetNvram nvram = Nvram()!;
        if (entry is null || entry.Index != nvram.CapturedIndex || !entry.Mac.Span.SequenceEqual(nvram.CapturedMac)
            || !CryptographicOperations.FixedTimeEquals(EntryMac(opened.FleetId, opened.ConfigurationHash, entry), entry.Mac.Span) || !IsWellFormed(entry))
        {
            return Error(EnclaveErrorCode.FleetRefused, $"become_leader.entry: must be the entry this member captured last (index {nvram.CapturedIndex}), with a valid MAC");
        }

        _leader = new LeaderLog(entry);
        return State();
    }

    private EnclaveResponse Batch(Batch batch)
    {
        if (RequireOpen() is { } closed)
        {
            return closed;
        }

        if (_leader is not { } leader)
        {
            return Error(EnclaveErrorCode.NotLeader, "batch: this member is not the leader");
        }

        if (batch.Operations.Count > _maxBatchOperations)
        {
            return Error(EnclaveErrorCode.BatchTooLarge, $"batch.operations: {batch.Operations.Count}, at most {_maxBatchOperations}");
        }

        // A new leader's first entry carries nothing: its commit shows a quorum follows this leader's
        // chain (and commits the entries it adopted) before any client answer depends on it.
        if (batch.Operations.Count > 0 && leader.CommittedIndex == 0)
        {
            return Error(EnclaveErrorCode.FleetRefused, "batch: a new leader's first entry carries no operations; send an empty batch and commit it first");
        }

        Opened opened = _opened!;
        FleetEntry latest = leader.Latest;
        var context = new BatchContext(new CommittedState(latest.Index, latest.MerkleRoot.ToByteArray(), latest.Mac.ToByteArray()));
        var held = new List<OperationResult>();
        var result = new FleetBatchResult();
        foreach (Operation operation in batch.Operations)
        {
            OperationResult applied = opened.Operations.Apply(context, operation);
            if (applied.Outcome is OperationOutcome.OutcomeStaleWitness or OperationOutcome.OutcomeIntegrityFailure or OperationOutcome.OutcomeClientError)
            {
                // Nothing changed and nothing depends on state: answer at once.
                result.Immediate.Add(applied);
            }
            else
            {
                held.Add(applied);
            }
        }

        var entry = new FleetEntry
        {
            Index = latest.Index + 1,
            PrevMac = latest.Mac,
            MerkleRoot = ByteString.CopyFrom(context.Tree.Root),
            Leader = ByteString.CopyFrom(_memberId),
        };
        entry.Updates.AddRange(context.Updates);
        entry.Mac = ByteString.CopyFrom(EntryMac(opened.FleetId, opened.ConfigurationHash, entry));
        leader.Append(entry, held);
        result.Entry = entry;
        result.Writes.AddRange(context.Writes);
        return new EnclaveResponse { FleetBatch = result };
    }

    private EnclaveResponse Commit(CommitRequest request)
    {
        if (RequireOpen() is { } closed)
        {
            return closed;
        }

        if (_leader is not { } leader)
        {
            return Error(EnclaveErrorCode.NotLeader, "commit: this member is not the leader");
        }

        Opened opened = _opened!;

        // Each member supports every written entry up to the highest one it has a valid statement for.
        var support = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (CapturedStatement statement in request.Statements)
        {
            if (!opened.IsMember(statement.Member.Span) || statement.EntryMac.Length != FleetMacs.MacBytes)
            {
                continue;
            }

            byte[] expected = _hsm.Hmac(HsmHmacKey.LogMac, FleetMacs.CapturedInput(opened.FleetId, opened.ConfigurationHash, statement.Member.Span, statement.Index, statement.EntryMac.Span));
            if (!CryptographicOperations.FixedTimeEquals(expected, statement.Mac.Span) || !leader.Wrote(statement.Index, statement.EntryMac.Span))
            {
                continue;
            }

            string member = Convert.ToHexString(statement.Member.Span);
            support[member] = Math.Max(support.GetValueOrDefault(member), statement.Index);
        }

        var released = new CommitResult();
        foreach (FleetEntry entry in leader.Pending())
        {
            if (support.Values.Count(index => index >= entry.Index) < (int)opened.Configuration.Quorum)
            {
                break;
            }

            released.Released.AddRange(leader.CommitNext());
        }

        released.CommittedIndex = leader.CommittedIndex;
        return new EnclaveResponse { Commit = released };
    }

    private EnclaveResponse StepDown()
    {
        _leader = null;
        return State();
    }

    private EnclaveResponse State()
    {
        FleetNvram? nvram = Nvram();
        var state = new FleetState
        {
            Member = ByteString.CopyFrom(_memberId),
            IdentityPublicKey = ByteString.CopyFrom(_hsm.IdentityPublicKey),
            ChannelPublicKey = ByteString.CopyFrom(_hsm.ChannelPublicKey),
            Role = nvram is null ? FleetRole.Unjoined : _opened is null ? FleetRole.Closed : _leader is null ? FleetRole.Witness : FleetRole.Leader,
        };
        if (nvram is not null)
        {
            state.FleetId = ByteString.CopyFrom(nvram.FleetId);
            state.ConfigurationHash = ByteString.CopyFrom(nvram.ConfigurationHash);
            state.CapturedIndex = nvram.CapturedIndex;
            state.CapturedMac = ByteString.CopyFrom(nvram.CapturedMac);
        }

        if (_leader is { } leader)
        {
            state.WrittenIndex = leader.Latest.Index;
            state.CommittedIndex = leader.CommittedIndex;
        }

        return new EnclaveResponse { FleetState = state };
    }

    private EnclaveResponse? RequireOpen()
    {
        if (Nvram() is null)
        {
            return Error(EnclaveErrorCode.NotInitialized, "this member has joined no fleet");
        }

        return _opened is null ? Error(EnclaveErrorCode.FleetRefused, "the fleet configuration has not been opened since the start (send fleet_open)") : null;
    }

    private CapturedStatement Statement(Opened opened, ulong index, byte[] mac) => new()
    {
        Member = ByteString.CopyFrom(_memberId),
        Index = index,
        EntryMac = ByteString.CopyFrom(mac),
        Mac = ByteString.CopyFrom(_hsm.Hmac(HsmHmacKey.LogMac, FleetMacs.CapturedInput(opened.FleetId, opened.ConfigurationHash, _memberId, index, mac))),
    };

    private byte[] EntryMac(ReadOnlySpan<byte> fleetId, ReadOnlySpan<byte> configurationHash, FleetEntry entry) =>
        _hsm.Hmac(HsmHmacKey.LogMac, FleetMacs.EntryMacInput(fleetId, configurationHash, entry));

    private static bool IsWellFormed(FleetEntry entry) =>
        entry.PrevMac.Length == FleetMacs.MacBytes && entry.MerkleRoot.Length == 32 && entry.Leader.Length == FleetMacs.MemberIdBytes
        && entry.Updates.All(u => u.Key.Length == 32 && (u.ValueHash.IsEmpty || u.ValueHash.Length == 32));

    private static string? CheckConfiguration(FleetConfiguration? configuration)
    {
        if (configuration is null)
        {
            return "configuration: missing";
        }

        int n = configuration.Members.Count;
        if (n is < 1 or > MaxMembers)
        {
            return $"configuration.members: {n}, must be 1 to {MaxMembers}";
        }

        if (configuration.Members.Any(m => m.IdentityPublicKey.Length != 33 || m.IdentityPublicKey[0] is not (2 or 3)))
        {
            return "configuration.members: every identity key must be a SEC1 compressed P-256 point (33 bytes)";
        }

        if (configuration.Members.Select(m => Convert.ToHexString(m.IdentityPublicKey.Span)).Distinct().Count() != n)
        {
            return "configuration.members: a member appears twice";
        }

        // Only a strict majority keeps two quorums from missing each other.
        if (configuration.Quorum != (uint)((n / 2) + 1))
        {
            return $"configuration.quorum: {configuration.Quorum}, must be the majority of {n} ({(n / 2) + 1})";
        }

        try
        {
            PolicyOf(configuration).Validate();
        }
        catch (ArgumentException ex)
        {
            return $"configuration: {ex.Message}";
        }

        return null;
    }

    private static VaultPolicy PolicyOf(FleetConfiguration configuration) => new(
        AttemptLimit: (int)Math.Min(configuration.AttemptLimit, int.MaxValue),
        OperatorPublicKey: configuration.OperatorPublicKey.IsEmpty ? null : configuration.OperatorPublicKey.ToByteArray(),
        OpaqueContext: configuration.OpaqueContext);

    private FleetNvram? Nvram()
    {
        if (!_nvramLoaded)
        {
            byte[] content = _hsm.ReadNvram();
            _nvram = content.Length == 0 ? null : FleetNvram.TryDecode(content)
                ?? throw new InvalidDataException("NVRAM does not hold a fleet member's state");
            _nvramLoaded = true;
        }

        return _nvram;
    }

    private void WriteNvram(FleetNvram next)
    {
        _nvramLoaded = false;
        _hsm.WriteNvram(next.Encode());
        _nvram = next;
        _nvramLoaded = true;
    }

    private static EnclaveResponse Error(EnclaveErrorCode code, string message) =>
        new() { Error = new EnclaveError { Code = code, Message = message } };

    /// <summary>What an opened member knows of its fleet: the configuration, and operations bound to it.</summary>
    private sealed class Opened
    {
        private readonly HashSet<string> _members;

        public Opened(IHsmServices hsm, FleetConfiguration configuration, byte[] fleetId, byte[] configurationHash)
        {
            Configuration = configuration;
            FleetId = fleetId;
            ConfigurationHash = configurationHash;
            _members = configuration.Members.Select(m => Convert.ToHexString(FleetMacs.MemberId(m.IdentityPublicKey.Span))).ToHashSet(StringComparer.Ordinal);
            Operations = new VaultOperations(new BoundHsmServices(hsm, [.. fleetId, .. configurationHash]), PolicyOf(configuration));
        }

        public FleetConfiguration Configuration { get; }

        public byte[] FleetId { get; }

        public byte[] ConfigurationHash { get; }

        public VaultOperations Operations { get; }

        public bool IsMember(ReadOnlySpan<byte> memberId) => memberId.Length == FleetMacs.MemberIdBytes && _members.Contains(Convert.ToHexString(memberId));
    }
}
