using System.Diagnostics;
using Google.Protobuf;
using HsmVault.Host.Bridge;
using HsmVault.Host.Configuration;
using HsmVault.Host.Pipeline;
using HsmVault.Host.Store;
using HsmVault.Host.Telemetry;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HsmVault.Host.Fleet;

/// <summary>
/// The host of one fleet member (docs/REPLICATION.md, "Hosts"). It relays every message between its
/// HSM, the fleet's shared store and the other members' hosts, and trusts none of them:
/// <list type="bullet">
/// <item>start: forms the fleet (member 0's host runs the genesis once every member's HSM answers),
/// joins it (vouches from every other member), or opens the configuration the store holds;</item>
/// <item>election: the leader lease is a compare-and-set value in the store; a host whose lease lapsed
/// is replaced by any member's host that takes it, catches its HSM up from the store's log, makes it
/// leader and commits an empty first entry;</item>
/// <item>leader: batches client requests with witnesses from the store, has its HSM apply them into an
/// entry, stores the entry (first writer wins), asks every member to capture it and hands the
/// statements back; answers leave only when the HSM releases them, at a majority;</item>
/// <item>follower: forwards its clients' requests to the leader's host, and has its HSM capture what
/// the leader's host asks for, but only entries already in the store, catching it up when it lags.</item>
/// </list>
/// Safety is the HSMs' (MACs, NVRAM, quorum); this class only keeps the fleet available.
/// </summary>
public sealed partial class FleetPipeline : IClientRequestHandler, IVaultService, IHostedService, IDisposable
{
    private const int FrameOverheadBytes = 64;

    // The OPAQUE context the clients use (the enclave's default policy); fixed into the configuration at genesis.
    private const string OpaqueContext = "HsmVault-v1";

    private readonly IVaultStore _store;
    private readonly IHsmBridge _hsm;
    private readonly FleetOptions _fleet;
    private readonly HsmOptions _hsmOptions;
    private readonly ClientListenerOptions _limits;
    private readonly HealthOptions _health;
    private readonly HostMetrics _metrics;
    private readonly ILogger<FleetPipeline> _logger;
    private readonly TimeProvider _time;
    private readonly PeerClient?[] _peers;
    private readonly Lock _storeGate = new();
    private readonly RequestAdmission _admission;
    private readonly Dictionary<ulong, PendingOperation> _held = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _abort = new();
    private List<PendingOperation> _carry = [];
    private FleetEntry? _uncommitted;
    private readonly LeaderLease _lease;
    private ulong _nextTag;
    private Task? _loop;
    private int _disposed;
    private bool _opened;
    private volatile bool _leading;
    private volatile int _leaderSeen = -1;
    private volatile bool _reachable;
    private volatile ServiceStatus _status = ServiceStatus.Starting;
    private volatile string _statusDetail = "checking the HSM's fleet state";
    private long _lastProbe;

    public FleetPipeline(
        IVaultStore store,
        IHsmBridge hsm,
        FleetOptions fleet,
        HsmOptions hsmOptions,
        ClientListenerOptions limits,
        HostMetrics metrics,
        ILogger<FleetPipeline> logger,
        HealthOptions? health = null,
        TimeProvider? time = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _hsm = hsm ?? throw new ArgumentNullException(nameof(hsm));
        _fleet = fleet ?? throw new ArgumentNullException(nameof(fleet));
        _hsmOptions = hsmOptions ?? throw new ArgumentNullException(nameof(hsmOptions));
        _limits = limits ?? throw new ArgumentNullException(nameof(limits));
        _admission = new RequestAdmission(limits.MaxInFlightRequests);
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _health = health ?? new HealthOptions();
        _time = time ?? TimeProvider.System;
        IReadOnlyList<Protocol.Bridge.BridgeEndpoint> endpoints = fleet.PeerEndpoints();
        _peers = [.. endpoints.Select((endpoint, i) => i == fleet.Self ? null : new PeerClient(endpoint, fleet.PeerTimeout, hsmOptions.MaxFrameBytes + 1024))];
        _lease = new LeaderLease(store, _storeGate, fleet.Self, endpoints.Count, fleet.LeaseDuration, _time);
        _metrics.ObserveRecords(() => _store.State.RecordCount);
        _metrics.ObserveVault(() => unchecked((long)_store.State.LogIndex), () => _status == ServiceStatus.Serving, () => _reachable);
    }

    /// <inheritdoc />
    public ServiceStatus Status => _status;

    /// <inheritdoc />
    public string StatusDetail => _status == ServiceStatus.Serving && _leading ? $"leading the fleet; committed through entry {_store.State.LogIndex}" : _statusDetail;

    /// <inheritdoc />
    public bool LoopStopped => _loop is { IsCompleted: true };

    /// <inheritdoc />
    public bool EnclaveReachable => _reachable;

    /// <inheritdoc />
    public VaultStoreState StoreState => _store.State;

    /// <inheritdoc />
    public int InFlight => _admission.InFlight;

    /// <summary>True while this host's HSM leads the fleet.</summary>
    public bool Leading => _leading;

    private int Size => _peers.Length;

    /// <summary>
    /// Answers a client: through this host's HSM when it leads, else forwarded to the leader's host.
    /// Refusals are typed Error responses (BAD_REQUEST, TOO_LARGE, BUSY, UNAVAILABLE).
    /// </summary>
    public async Task<ClientResponse> SubmitAsync(ClientRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        long started = Stopwatch.GetTimestamp();
        _metrics.RequestReceived();
        ClientResponse response = await AnswerAsync(request, forwarded: false).ConfigureAwait(false);
        _metrics.ResponseSent(response, Stopwatch.GetElapsedTime(started));
        return response;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => RunAsync(_abort.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Stops taking requests, finishes the entry in flight, hands the lease back, then stops.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _admission.Close();
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is null)
        {
            return;
        }

        try
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await _abort.CancelAsync().ConfigureAwait(false);
            await _loop.ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _abort.Cancel();
        _stopping.Cancel();
        foreach (PeerClient? peer in _peers)
        {
            peer?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// What another host may ask of this one. Its HSM answers capture, vouch and fleet_state for any
    /// member, so those are relayed (a capture only of entries this host's store holds); everything
    /// else an HSM does is for its own host alone and is refused. A forwarded client request is
    /// served only while this host leads (never forwarded again, so no request loops).
    /// </summary>
    public async Task<PeerResponse> HandlePeerAsync(PeerRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.KindCase == PeerRequest.KindOneofCase.Forward)
        {
            return new PeerResponse { Forward = await AnswerAsync(request.Forward, forwarded: true).ConfigureAwait(false) };
        }

        EnclaveRequest? inner = request.Enclave;
        try
        {
            EnclaveResponse response = inner?.KindCase switch
            {
                EnclaveRequest.KindOneofCase.FleetState or EnclaveRequest.KindOneofCase.Vouch => await HsmAsync(inner, cancellationToken).ConfigureAwait(false),
                EnclaveRequest.KindOneofCase.Capture => await CaptureForPeerAsync(inner.Capture, cancellationToken).ConfigureAwait(false),
                _ => EnclaveError(EnclaveErrorCode.MalformedRequest, $"peer request: {inner?.KindCase.ToString() ?? "nothing"} is not one a peer host may ask for (capture, vouch, fleet_state)"),
            };
            return new PeerResponse { Enclave = response };
        }
        catch (HsmUnavailableException ex)
        {
            return new PeerResponse { Enclave = EnclaveError(EnclaveErrorCode.EnclaveInternal, $"this member's HSM is unreachable ({ex.Message})") };
        }
        catch (StoreUnavailableException ex)
        {
            return new PeerResponse { Enclave = EnclaveError(EnclaveErrorCode.EnclaveInternal, $"this member's store is unavailable ({ex.Message})") };
        }
    }

    private async Task<ClientResponse> AnswerAsync(ClientRequest request, bool forwarded)
    {
        (ByteString? userId, ClientResponse? invalid) = ClientRequestCheck.UserIdOf(request, _limits.MaxUserIdBytes);
        if (invalid is not null)
        {
            return invalid;
        }

        if (!_leading)
        {
            int leader = _leaderSeen;
            if (forwarded || leader < 0 || _peers[leader] is not { } peer)
            {
                return ClientErrors.Create(request.RequestId, ErrorCode.Unavailable, "the fleet has no leader now; retry later");
            }

            try
            {
                return await peer.ForwardAsync(request, _hsmOptions.RequestTimeout, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HsmUnavailableException or OperationCanceledException)
            {
                return ClientErrors.Create(request.RequestId, ErrorCode.Unavailable, "the fleet's leader cannot be reached; retry later");
            }
        }

        if (_status != ServiceStatus.Serving)
        {
            return ClientErrors.Create(request.RequestId, ErrorCode.Unavailable, "the fleet cannot commit now (no majority of its HSMs answers); retry later");
        }

        return await _admission.SubmitAsync(request, userId!).ConfigureAwait(false);
    }

    private async Task RunAsync(CancellationToken abort)
    {
        try
        {
            while (!abort.IsCancellationRequested)
            {
                if (_stopping.IsCancellationRequested && (!_leading || (_uncommitted is null && _carry.Count == 0 && !_admission.Reader.TryPeek(out _))))
                {
                    break;
                }

                try
                {
                    await StepAsync(abort).ConfigureAwait(false);
                }
                catch (HsmUnavailableException ex)
                {
                    LogHsmUnreachable(ex.Message);
                    _reachable = false;
                    _opened = false;
                    await LoseLeadershipAsync("this member's HSM stopped answering", abort).ConfigureAwait(false);
                    SetStatus(ServiceStatus.Unavailable, "this member's HSM is unreachable; retrying");
                    await PauseAsync(_hsmOptions.ReconnectDelay, abort).ConfigureAwait(false);
                }
                catch (StoreUnavailableException ex)
                {
                    LogStoreUnavailable(ex.Message);
                    await LoseLeadershipAsync("the fleet's store is unavailable", abort).ConfigureAwait(false);
                    SetStatus(ServiceStatus.Unavailable, ex.Message + "; retrying");
                    await PauseAsync(_hsmOptions.ReconnectDelay, abort).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            // Hard stop after the drain timeout.
        }
        catch (Exception ex)
        {
            LogLoopFailed(ex);
            SetStatus(ServiceStatus.Refused, $"the fleet pipeline stopped after an unexpected error: {ex.GetType().Name}");
        }
        finally
        {
            _admission.Close();
            FailWaiting("the vault is shutting down; retry later");
            try
            {
                _lease.Release();
            }
            catch (StoreUnavailableException)
            {
                // It lapses on its own.
            }
        }
    }

    private async Task StepAsync(CancellationToken abort)
    {
        if (!_opened)
        {
            // Even with its own HSM down, a host forwards its clients to whoever holds the lease.
            _leaderSeen = _lease.OtherHolder(_lease.Read());
            await OpenMemberAsync(abort).ConfigureAwait(false);
            if (!_opened)
            {
                await PauseAsync(_hsmOptions.ReconnectDelay, abort).ConfigureAwait(false);
            }

            return;
        }

        if (!_leading)
        {
            await FollowAsync(abort).ConfigureAwait(false);
            return;
        }

        if (!_lease.Renew())
        {
            await LoseLeadershipAsync("another host took the leader lease", abort).ConfigureAwait(false);
            return;
        }

        if (_uncommitted is { } waiting)
        {
            // No majority captured the newest entry yet: ask again, admit nothing new meanwhile.
            if (!await CommitRoundAsync(waiting, abort).ConfigureAwait(false))
            {
                SetStatus(ServiceStatus.Unavailable, $"leading, but no majority of the {Size} HSMs has captured entry {waiting.Index}; retrying");
                await PauseAsync(TimeSpan.FromMilliseconds(500), abort).ConfigureAwait(false);
                return;
            }

            SetServing();
            return;
        }

        if (_carry.Count == 0 && !await WaitForWorkAsync(abort).ConfigureAwait(false))
        {
            await ProbeWhileLeadingAsync(abort).ConfigureAwait(false);
            return;
        }

        if (_hsmOptions.BatchWindow > TimeSpan.Zero)
        {
            await Task.Delay(_hsmOptions.BatchWindow, abort).ConfigureAwait(false);
        }

        (List<PendingOperation> batch, _carry) = BatchCollector.Collect(_carry, _admission.Reader, _hsmOptions.MaxBatchOperations);
        await ExecuteAsync(batch, abort).ConfigureAwait(false);
    }

    // ---- joining -------------------------------------------------------------------------------

    private async Task OpenMemberAsync(CancellationToken abort)
    {
        FleetState state = await StateAsync(abort).ConfigureAwait(false);
        switch (state.Role)
        {
            case FleetRole.Unjoined:
                await FormOrJoinAsync(state, abort).ConfigureAwait(false);
                return;
            case FleetRole.Closed:
                FleetConfiguration? configuration = Locked(() => FleetStoreValues.ReadConfiguration(_store));
                if (configuration is null)
                {
                    SetStatus(ServiceStatus.Refused, "this member's HSM belongs to a fleet, but the store holds no fleet configuration");
                    return;
                }

                EnclaveResponse opened = await HsmAsync(new EnclaveRequest { FleetOpen = new FleetOpenRequest { Configuration = configuration } }, abort).ConfigureAwait(false);
                if (opened.KindCase != EnclaveResponse.KindOneofCase.FleetState)
                {
                    SetStatus(ServiceStatus.Refused, $"this member's HSM refuses the store's fleet configuration: {Describe(opened)}");
                    return;
                }

                break;
            case FleetRole.Leader:
                // A leader from before this host started: this host holds no lease for it.
                await HsmAsync(new EnclaveRequest { StepDown = new StepDownRequest() }, abort).ConfigureAwait(false);
                break;
        }

        _opened = true;
        LogMember(_fleet.Self, Convert.ToHexStringLower(state.Member.Span), state.CapturedIndex);
        SetStatus(ServiceStatus.Unavailable, "member of the fleet; looking for its leader");
    }

    private async Task FormOrJoinAsync(FleetState state, CancellationToken abort)
    {
        (FleetConfiguration? configuration, byte[]? fleet) = Locked(() => (FleetStoreValues.ReadConfiguration(_store), _store.ReadFleetValue(FleetStoreValues.FleetId)));
        if (configuration is null)
        {
            if (_fleet.Self != 0)
            {
                SetStatus(ServiceStatus.Starting, "waiting for member 0's host to form the fleet");
                return;
            }

            await FormAsync(state, abort).ConfigureAwait(false);
            return;
        }

        if (fleet is not { Length: 48 } || Locked(() => { _store.Refresh(); return _store.State.LogIndex; }) < 1)
        {
            SetStatus(ServiceStatus.Starting, "waiting for the genesis entry in the store");
            return;
        }

        if (!configuration.Members.Any(m => m.IdentityPublicKey.Equals(state.IdentityPublicKey)))
        {
            SetStatus(ServiceStatus.Refused, "this member's HSM is not in the fleet configuration the store holds");
            return;
        }

        EnclaveResponse challenge = await HsmAsync(new EnclaveRequest { JoinChallenge = new JoinChallengeRequest() }, abort).ConfigureAwait(false);
        if (challenge.KindCase != EnclaveResponse.KindOneofCase.JoinChallenge)
        {
            SetStatus(ServiceStatus.Refused, $"join challenge refused: {Describe(challenge)}");
            return;
        }

        var join = new JoinRequest { Configuration = configuration, FleetId = ByteString.CopyFrom(fleet, 0, 16) };
        for (int i = 0; i < Size; i++)
        {
            if (_peers[i] is not { } peer)
            {
                continue;
            }

            var vouch = new VouchRequest
            {
                FleetId = join.FleetId,
                ConfigurationHash = ByteString.CopyFrom(fleet, 16, 32),
                Joiner = state.Member,
                Nonce = challenge.JoinChallenge.Nonce,
            };
            EnclaveResponse answer;
            try
            {
                answer = await peer.SendEnclaveAsync(new EnclaveRequest { Vouch = vouch }, abort).ConfigureAwait(false);
            }
            catch (HsmUnavailableException ex)
            {
                SetStatus(ServiceStatus.Starting, $"joining the fleet: waiting for member {i}'s vouch ({ex.Message})");
                return;
            }

            if (answer.KindCase != EnclaveResponse.KindOneofCase.Vouch)
            {
                SetStatus(ServiceStatus.Starting, $"joining the fleet: member {i} does not vouch yet ({Describe(answer)})");
                return;
            }

            join.Vouches.Add(answer.Vouch);
        }

        EnclaveResponse joined = await HsmAsync(new EnclaveRequest { Join = join }, abort).ConfigureAwait(false);
        if (joined.KindCase != EnclaveResponse.KindOneofCase.FleetState)
        {
            SetStatus(ServiceStatus.Refused, $"the join was refused: {Describe(joined)}");
            return;
        }

        LogJoined(_fleet.Self, Convert.ToHexStringLower(join.FleetId.Span));
        _opened = true;
        SetStatus(ServiceStatus.Unavailable, "joined the fleet; looking for its leader");
    }

    private async Task FormAsync(FleetState own, CancellationToken abort)
    {
        var configuration = new FleetConfiguration
        {
            Quorum = (uint)((Size / 2) + 1),
            AttemptLimit = (uint)_fleet.AttemptLimit,
            OperatorPublicKey = ByteString.CopyFrom(_fleet.OperatorKeyBytes() ?? []),
            OpaqueContext = OpaqueContext,
        };
        for (int i = 0; i < Size; i++)
        {
            FleetState member = own;
            if (_peers[i] is { } peer)
            {
                try
                {
                    EnclaveResponse answer = await peer.SendEnclaveAsync(new EnclaveRequest { FleetState = new FleetStateQuery() }, abort).ConfigureAwait(false);
                    if (answer.KindCase != EnclaveResponse.KindOneofCase.FleetState)
                    {
                        SetStatus(ServiceStatus.Starting, $"forming the fleet: member {i}'s HSM does not answer yet ({Describe(answer)})");
                        return;
                    }

                    member = answer.FleetState;
                }
                catch (HsmUnavailableException ex)
                {
                    SetStatus(ServiceStatus.Starting, $"forming the fleet: waiting for member {i} ({ex.Message})");
                    return;
                }
            }

            if (member.Role != FleetRole.Unjoined)
            {
                SetStatus(ServiceStatus.Refused, $"forming the fleet: member {i}'s HSM already belongs to a fleet; a fleet forms only from HSMs that belong to none");
                return;
            }

            configuration.Members.Add(new FleetMemberKey { IdentityPublicKey = member.IdentityPublicKey });
        }

        EnclaveResponse genesis = await HsmAsync(new EnclaveRequest { FleetGenesis = new FleetGenesisRequest { Configuration = configuration } }, abort).ConfigureAwait(false);
        if (genesis.KindCase != EnclaveResponse.KindOneofCase.FleetState)
        {
            SetStatus(ServiceStatus.Refused, $"the genesis was refused: {Describe(genesis)}");
            return;
        }

        FleetState formed = genesis.FleetState;
        byte[] fleet = [.. formed.FleetId.Span, .. formed.ConfigurationHash.Span];
        Locked(() =>
        {
            // Configuration and id first: a host that crashes here leaves a genesis to redo, not a fleet without them.
            _store.CompareAndSetFleetValue(FleetStoreValues.Configuration, null, configuration.ToByteArray());
            _store.CompareAndSetFleetValue(FleetStoreValues.FleetId, null, fleet);
            _store.Commit(new VaultCommit(FleetStoreValues.ToLogEntry(formed.Genesis), [], new Dictionary<byte[], MerkleNode>()));
            return 0;
        });
        LogFormed(Convert.ToHexStringLower(formed.FleetId.Span), Size, configuration.Quorum, configuration.AttemptLimit);
        _opened = true;
        SetStatus(ServiceStatus.Unavailable, "formed the fleet; electing its first leader");
    }

    // ---- following and electing ----------------------------------------------------------------

    private async Task FollowAsync(CancellationToken abort)
    {
        FailWaiting("this host's HSM no longer leads the fleet; retry");
        Locked(() =>
        {
            _store.Refresh();
            return 0;
        });
        LeaderLease.View seen = _lease.Read();
        if (_lease.MayTake(seen) && !await AllJoinedIfFormingAsync(abort).ConfigureAwait(false))
        {
            await PauseAsync(_fleet.LeaseDuration / 4, abort).ConfigureAwait(false);
            return;
        }

        if (_lease.MayTake(seen) && _lease.TryTake(seen))
        {
            await BecomeLeaderAsync(abort).ConfigureAwait(false);
            return;
        }

        _leaderSeen = _lease.OtherHolder(seen);
        if (_leaderSeen >= 0)
        {
            SetStatus(ServiceStatus.Serving, $"following member {_leaderSeen}, the fleet's leader");
        }
        else
        {
            SetStatus(ServiceStatus.Unavailable, "the fleet has no leader now; electing one");
        }

        FleetState state = await StateAsync(abort).ConfigureAwait(false);
        if (state.Role is FleetRole.Closed or FleetRole.Unjoined)
        {
            // The HSM restarted between two probes.
            _opened = false;
            return;
        }

        await PauseAsync(_fleet.LeaseDuration / 4, abort).ConfigureAwait(false);
    }

    // While the log holds only the genesis entry, members may still be joining, and a join needs
    // every other member at genesis: nobody leads (and writes entry 2) until every member has joined.
    // The caller has just refreshed the store.
    private async Task<bool> AllJoinedIfFormingAsync(CancellationToken abort)
    {
        if (_store.State.LogIndex > 1)
        {
            return true;
        }

        for (int i = 0; i < Size; i++)
        {
            if (_peers[i] is not { } peer)
            {
                continue;
            }

            try
            {
                EnclaveResponse answer = await peer.SendEnclaveAsync(new EnclaveRequest { FleetState = new FleetStateQuery() }, abort).ConfigureAwait(false);
                if (answer.FleetState is not { } state || state.Role == FleetRole.Unjoined)
                {
                    SetStatus(ServiceStatus.Starting, $"the fleet forms: waiting for member {i} to join before electing a leader");
                    return false;
                }
            }
            catch (HsmUnavailableException)
            {
                SetStatus(ServiceStatus.Starting, $"the fleet forms: waiting for member {i} to answer before electing a leader");
                return false;
            }
        }

        return true;
    }

    private async Task BecomeLeaderAsync(CancellationToken abort)
    {
        _leaderSeen = -1;
        FleetState state = await StateAsync(abort).ConfigureAwait(false);
        List<FleetEntry> behind = Locked(() =>
        {
            _store.Refresh();
            return FleetStoreValues.EntriesAfter(_store, state.CapturedIndex, int.MaxValue);
        });
        if (behind.Count > 0)
        {
            // Adopt every entry the old leader stored: their effects (counted guesses too) stay.
            EnclaveResponse caught = await HsmAsync(new EnclaveRequest { Capture = Capture(behind) }, abort).ConfigureAwait(false);
            if (caught.Capture is not { Outcome: CaptureOutcome.CaptureOk })
            {
                await GiveUpLeadAsync($"the store's log does not extend what this member captured ({Describe(caught)})", abort).ConfigureAwait(false);
                return;
            }
        }

        LogEntry? tailRow = Locked(() => _store.FindLogEntry(_store.State.LogIndex));
        if (tailRow is null)
        {
            await GiveUpLeadAsync("the store holds no log", abort).ConfigureAwait(false);
            return;
        }

        EnclaveResponse led = await HsmAsync(new EnclaveRequest { BecomeLeader = new BecomeLeaderRequest { Entry = FleetStoreValues.ToFleetEntry(tailRow) } }, abort).ConfigureAwait(false);
        if (led.KindCase != EnclaveResponse.KindOneofCase.FleetState)
        {
            await GiveUpLeadAsync($"this member's HSM would not lead from the store's last entry ({Describe(led)})", abort).ConfigureAwait(false);
            return;
        }

        _leading = true;
        _uncommitted = null;
        LogLeading(_fleet.Self, tailRow.Index);

        // A new leader's first entry carries nothing; its commit shows a majority follows this chain.
        SetStatus(ServiceStatus.Unavailable, $"leading from entry {tailRow.Index}; committing the first entry");
        await ExecuteAsync([], abort).ConfigureAwait(false);
        if (_leading && _uncommitted is null)
        {
            SetServing();
        }
    }

    private async Task GiveUpLeadAsync(string reason, CancellationToken abort)
    {
        LogCannotLead(reason);
        await LoseLeadershipAsync(reason, abort).ConfigureAwait(false);
        await PauseAsync(_fleet.LeaseDuration, abort).ConfigureAwait(false);
    }

    private async Task LoseLeadershipAsync(string reason, CancellationToken abort)
    {
        bool was = _leading || _lease.Held;
        _leading = false;
        _uncommitted = null;
        FailWaiting("the fleet's leader changed; retry");
        try
        {
            _lease.Release();
        }
        catch (StoreUnavailableException)
        {
            _lease.Forget();
        }

        if (was)
        {
            LogSteppedDown(reason);
            try
            {
                await HsmAsync(new EnclaveRequest { StepDown = new StepDownRequest() }, abort).ConfigureAwait(false);
            }
            catch (HsmUnavailableException)
            {
                // A restarted HSM has no leader RAM to drop.
            }
        }
    }

    // ---- leading -------------------------------------------------------------------------------

    private async Task ExecuteAsync(List<PendingOperation> batch, CancellationToken abort)
    {
        var request = new Batch();
        var sent = new Dictionary<ulong, PendingOperation>();
        StagedMerkleNodeStore? staged = null;
        SparseMerkleTree? tree = null;
        VaultStoreState state = _store.State;
        try
        {
            Locked(() =>
            {
                state = _store.State;
                staged = new StagedMerkleNodeStore(_store.Nodes);
                tree = new SparseMerkleTree(staged, state.MerkleRoot);
                int bytes = FrameOverheadBytes;
                for (int i = 0; i < batch.Count; i++)
                {
                    PendingOperation pending = batch[i];
                    var operation = new Operation
                    {
                        Tag = ++_nextTag,
                        Client = pending.Request,
                        Witness = new RecordWitness { Record = _store.FindRecord(pending.Key), Proof = tree.Prove(pending.Key) },
                    };
                    int size = operation.CalculateSize() + 8;
                    if (bytes + size > _hsmOptions.MaxFrameBytes)
                    {
                        _carry = [.. batch.Skip(i), .. _carry];
                        break;
                    }

                    bytes += size;
                    request.Operations.Add(operation);
                    sent[operation.Tag] = pending;
                }

                return 0;
            });
        }
        catch (Exception ex) when (ex is MerkleProofException or InvalidDataException or ArgumentException)
        {
            LogProtocolViolation($"the store's tree cannot prove a witness ({ex.Message})");
            FailAll(batch, ErrorCode.Internal, "the vault store is damaged; the operator has been alerted");
            return;
        }

        _metrics.BatchSent(sent.Count);
        EnclaveResponse response = await HsmAsync(new EnclaveRequest { Batch = request }, abort).ConfigureAwait(false);
        CrashPoints.Maybe(CrashPoints.AfterBatch);
        if (response.FleetBatch is not { Entry: { } entry } result)
        {
            FailAll([.. sent.Values], ErrorCode.Unavailable, "the fleet's leader changed; retry");
            await LoseLeadershipAsync($"this member's HSM refused a batch ({Describe(response)})", abort).ConfigureAwait(false);
            return;
        }

        string? violation = entry.Index != state.LogIndex + 1 ? $"fleet_batch.entry.index: {entry.Index}, the store is at {state.LogIndex}"
            : !entry.PrevMac.Span.SequenceEqual(state.EntryMac) ? "fleet_batch.entry.prev_mac: does not chain to the store's last entry"
            : EnclaveWrites.Apply(tree!, result.Writes, entry.MerkleRoot.Span, "fleet_batch");
        if (violation is not null)
        {
            LogProtocolViolation(violation);
            FailAll([.. sent.Values], ErrorCode.Unavailable, "the vault could not complete the request; retry later");
            await LoseLeadershipAsync("the HSM's entry does not follow the store's log", abort).ConfigureAwait(false);
            return;
        }

        try
        {
            Locked(() =>
            {
                _store.Commit(VaultCommit.Pruning(FleetStoreValues.ToLogEntry(entry), result.Writes, staged!, state.MerkleRoot));
                return 0;
            });
        }
        catch (StoreConflictException ex)
        {
            // First writer wins: another leader wrote this index. This one's entry is abandoned.
            FailAll([.. sent.Values], ErrorCode.Unavailable, "the fleet's leader changed; retry");
            await LoseLeadershipAsync($"another leader wrote entry {entry.Index} first ({ex.Message})", abort).ConfigureAwait(false);
            return;
        }

        CrashPoints.Maybe(CrashPoints.AfterStore);
        foreach (OperationResult immediate in result.Immediate)
        {
            if (sent.Remove(immediate.Tag, out PendingOperation? pending))
            {
                Relay(pending, immediate);
            }
        }

        foreach ((ulong tag, PendingOperation pending) in sent)
        {
            _held[tag] = pending;
        }

        _uncommitted = entry;
        if (!await CommitRoundAsync(entry, abort).ConfigureAwait(false))
        {
            // Their guesses may still count once a majority captures the entry; their answers are lost.
            FailHeld("no majority of the fleet's HSMs answered in time; retry later");
            SetStatus(ServiceStatus.Unavailable, $"leading, but no majority of the {Size} HSMs has captured entry {entry.Index}; retrying");
        }
    }

    /// <summary>Every member captures <paramref name="entry"/>; at a majority the leader commits and releases. True when committed.</summary>
    private async Task<bool> CommitRoundAsync(FleetEntry entry, CancellationToken abort)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(abort);
        deadline.CancelAfter(_fleet.CaptureTimeout);
        var capture = new EnclaveRequest { Capture = Capture([entry]) };
        var pending = new List<Task<CapturedStatement?>>();
        for (int i = 0; i < Size; i++)
        {
            pending.Add(CaptureAtAsync(i, capture, deadline.Token));
        }

        var statements = new List<CapturedStatement>();
        int quorum = (Size / 2) + 1;
        while (pending.Count > 0 && statements.Count < quorum)
        {
            Task<CapturedStatement?> done = await Task.WhenAny(pending).ConfigureAwait(false);
            pending.Remove(done);
            if (await done.ConfigureAwait(false) is { } statement && statement.Index >= entry.Index)
            {
                statements.Add(statement);
            }
        }

        var commit = new CommitRequest();
        commit.Statements.AddRange(statements);
        EnclaveResponse committed = await HsmAsync(new EnclaveRequest { Commit = commit }, abort).ConfigureAwait(false);
        if (committed.Commit is not { } released)
        {
            await LoseLeadershipAsync($"this member's HSM refused the commit ({Describe(committed)})", abort).ConfigureAwait(false);
            return false;
        }

        if (released.Released.Count > 0)
        {
            CrashPoints.Maybe(CrashPoints.AfterCommit);
        }

        foreach (OperationResult result in released.Released)
        {
            if (_held.Remove(result.Tag, out PendingOperation? waiting))
            {
                Relay(waiting, result);
            }
        }

        if (released.CommittedIndex < entry.Index)
        {
            return false;
        }

        _uncommitted = null;
        return true;
    }

    private async Task<CapturedStatement?> CaptureAtAsync(int member, EnclaveRequest capture, CancellationToken cancellationToken)
    {
        try
        {
            EnclaveResponse response = _peers[member] is { } peer
                ? await peer.SendEnclaveAsync(capture, cancellationToken).ConfigureAwait(false)
                : await HsmAsync(capture, cancellationToken).ConfigureAwait(false);
            return response.Capture?.Statement;
        }
        catch (Exception ex) when (ex is HsmUnavailableException or OperationCanceledException)
        {
            return null;
        }
    }

    private async Task ProbeWhileLeadingAsync(CancellationToken abort)
    {
        long now = _time.GetTimestamp();
        if (_time.GetElapsedTime(_lastProbe, now) < _health.ProbeInterval)
        {
            return;
        }

        _lastProbe = now;
        FleetState state = await StateAsync(abort).ConfigureAwait(false);
        if (state.Role != FleetRole.Leader)
        {
            _opened = state.Role == FleetRole.Witness;
            await LoseLeadershipAsync("this member's HSM restarted and lost its leader state", abort).ConfigureAwait(false);
        }
    }

    // A peer's capture: only of entries this host's store holds (an honest host stores first), and a
    // member that lags is caught up from the store in the same call.
    private async Task<EnclaveResponse> CaptureForPeerAsync(CaptureRequest request, CancellationToken cancellationToken)
    {
        string? missing = Locked(() =>
        {
            foreach (FleetEntry entry in request.Entries)
            {
                if (_store.FindLogEntry(entry.Index) is not { } row || !FleetStoreValues.SameMac(row.Mac, entry.Mac))
                {
                    return $"capture: entry {entry.Index} is not in this host's store; a member captures only what its host has stored";
                }
            }

            return null;
        });
        if (missing is not null)
        {
            return EnclaveError(EnclaveErrorCode.FleetRefused, missing);
        }

        EnclaveResponse response = await HsmAsync(new EnclaveRequest { Capture = request }, cancellationToken).ConfigureAwait(false);
        if (response.Capture is { Outcome: CaptureOutcome.CaptureGap } gap && request.Entries.Count > 0)
        {
            ulong last = request.Entries[^1].Index;
            List<FleetEntry> behind = Locked(() =>
            {
                _store.Refresh();
                return FleetStoreValues.EntriesAfter(_store, gap.CapturedIndex, int.MaxValue).Where(e => e.Index <= last).ToList();
            });
            response = await HsmAsync(new EnclaveRequest { Capture = Capture(behind) }, cancellationToken).ConfigureAwait(false);
        }

        return response;
    }

    // ---- helpers -------------------------------------------------------------------------------

    private void Relay(PendingOperation pending, OperationResult result)
    {
        switch (result.Outcome)
        {
            case OperationOutcome.OutcomeOk or OperationOutcome.OutcomeClientError when result.Client is not null:
                pending.Complete(result.Client);
                break;
            case OperationOutcome.OutcomeStaleWitness when !pending.Retried:
                pending.Retried = true;
                _carry.Insert(0, pending);
                break;
            case OperationOutcome.OutcomeIntegrityFailure:
                LogProtocolViolation(result.Detail);
                pending.Fail(ErrorCode.Internal, "the vault store failed an integrity check; the operator has been alerted");
                break;
            default:
                pending.Fail(ErrorCode.Unavailable, "the vault store is out of step with the HSM; retry later");
                break;
        }
    }

    private async Task<FleetState> StateAsync(CancellationToken abort)
    {
        EnclaveResponse response = await HsmAsync(new EnclaveRequest { FleetState = new FleetStateQuery() }, abort).ConfigureAwait(false);
        return response.FleetState ?? throw new HsmUnavailableException($"the HSM answered a fleet state query with {Describe(response)} (is it serving a fleet member? start the simulator with --fleet)");
    }

    private async Task<EnclaveResponse> HsmAsync(EnclaveRequest request, CancellationToken cancellationToken)
    {
        EnclaveResponse response = await _hsm.SendAsync(request, cancellationToken).ConfigureAwait(false);
        _reachable = true;
        return response;
    }

    private async Task<bool> WaitForWorkAsync(CancellationToken abort)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(abort, _stopping.Token);
        wait.CancelAfter(_fleet.LeaseDuration / 4);
        try
        {
            return await _admission.Reader.WaitToReadAsync(wait.Token).ConfigureAwait(false) && _admission.Reader.TryPeek(out _);
        }
        catch (OperationCanceledException) when (!abort.IsCancellationRequested)
        {
            return false;
        }
    }

    private async Task PauseAsync(TimeSpan delay, CancellationToken abort)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(abort, _stopping.Token);
        try
        {
            await Task.Delay(delay, _time, wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!abort.IsCancellationRequested)
        {
            // Stopping: the loop checks.
        }
    }

    private T Locked<T>(Func<T> action)
    {
        // One store connection, shared by the loop and the peer listener.
        lock (_storeGate)
        {
            return action();
        }
    }

    private void FailWaiting(string message)
    {
        FailHeld(message);
        FailAll(_carry, ErrorCode.Unavailable, message);
        _carry = [];
        _admission.FailQueued(ErrorCode.Unavailable, message);
    }

    private void FailHeld(string message)
    {
        FailAll([.. _held.Values], ErrorCode.Unavailable, message);
        _held.Clear();
    }

    private static void FailAll(IEnumerable<PendingOperation> operations, ErrorCode code, string message)
    {
        foreach (PendingOperation pending in operations)
        {
            pending.Fail(code, message);
        }
    }

    private void SetServing() => SetStatus(ServiceStatus.Serving, $"leading the fleet; committed through entry {_store.State.LogIndex}");

    private void SetStatus(ServiceStatus status, string detail)
    {
        ServiceStatus before = _status;
        string previous = _statusDetail;
        _status = status;
        _statusDetail = detail;
        if (before != status || (status != ServiceStatus.Serving && previous != detail))
        {
            LogStatus(before, status, detail);
        }
    }

    private static CaptureRequest Capture(IEnumerable<FleetEntry> entries)
    {
        var capture = new CaptureRequest();
        capture.Entries.AddRange(entries);
        return capture;
    }

    private static EnclaveResponse EnclaveError(EnclaveErrorCode code, string message) => new() { Error = new EnclaveError { Code = code, Message = message } };

    private static string Describe(EnclaveResponse response) => response.KindCase switch
    {
        EnclaveResponse.KindOneofCase.Error => $"{response.Error.Code}: {response.Error.Message}",
        EnclaveResponse.KindOneofCase.Capture => $"capture {response.Capture.Outcome}: {response.Capture.Detail}",
        _ => response.KindCase.ToString(),
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Fleet member {Self} (HSM member id {Member}) at captured index {Index}")]
    private partial void LogMember(int self, string member, ulong index);

    [LoggerMessage(Level = LogLevel.Information, Message = "Formed fleet {FleetId}: {Size} members, quorum {Quorum}, attempt limit {AttemptLimit}")]
    private partial void LogFormed(string fleetId, int size, uint quorum, uint attemptLimit);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fleet member {Self} joined fleet {FleetId}")]
    private partial void LogJoined(int self, string fleetId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fleet member {Self} leads, from entry {Index}")]
    private partial void LogLeading(int self, ulong index);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stepped down as the fleet's leader: {Reason}")]
    private partial void LogSteppedDown(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot lead the fleet: {Reason}")]
    private partial void LogCannotLead(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fleet status {From} -> {To}: {Detail}")]
    private partial void LogStatus(ServiceStatus from, ServiceStatus to, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "This member's HSM is unreachable: {Reason}")]
    private partial void LogHsmUnreachable(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The fleet's store is unavailable: {Reason}")]
    private partial void LogStoreUnavailable(string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Protocol violation by the HSM or the store: {Violation}")]
    private partial void LogProtocolViolation(string violation);

    [LoggerMessage(Level = LogLevel.Critical, Message = "The fleet pipeline failed")]
    private partial void LogLoopFailed(Exception exception);
}
