using System.Globalization;
using Google.Protobuf;
using HsmVault.Crypto.Opaque;
using HsmVault.Enclave.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Fleet;

/// <summary>
/// A deterministic simulation of a fleet under a hostile host and network (docs/REPLICATION.md,
/// "Properties"): N members over seeded in-memory HSMs, a host store each, and one seed driving
/// client operations mixed with drops, duplicates, reordering and replays of captures and
/// statements, HSM crashes (the leader's RAM lost), an HSM losing its NVRAM, partitions, store
/// roll-backs, forged entries and leader changes. After every step it checks the four properties
/// in code; a failure names the seed and the step, and the same seed replays it exactly.
/// </summary>
internal sealed class FleetSimulation
{
    private const int Users = 6;

    private readonly Random _rng;
    private readonly TestFleet _fleet;
    private readonly int _seed;
    private readonly uint _limit;
    private readonly SimUser[] _users;
    private readonly Dictionary<ulong, FleetEntry> _committed = [];
    private readonly List<CapturedStatement> _statements = [];
    private readonly List<CapturedStatement> _oldStatements = [];
    private readonly Dictionary<ulong, PendingClient> _pending = [];
    private readonly bool[] _wiped;
    private HashSet<int> _reachable;
    private int _partitionSteps;
    private ulong _nextTag;
    private int _step;

    public FleetSimulation(int seed, int members = 5, uint limit = 3)
    {
        _seed = seed;
        _rng = new Random(seed);
        _limit = limit;
        _fleet = new TestFleet(members, (ulong)seed, limit);
        _fleet.Form();
        _users = [.. Enumerable.Range(0, Users).Select(i => new SimUser(new FleetUser(_fleet, $"user-{i}", (ulong)((seed * 31) + i))))];
        _wiped = new bool[members];
        _reachable = [.. Enumerable.Range(0, members)];
        Elect();
    }

    public int Steps => _step;

    public int Commits { get; private set; }

    public int ClientAnswers { get; private set; }

    public int Refusals { get; private set; }

    /// <summary>Runs <paramref name="steps"/> adversarial steps, then heals and checks that every operation completes.</summary>
    public void Run(int steps)
    {
        for (int i = 0; i < steps; i++)
        {
            _step++;
            Step();
            CheckSafety();
        }

        HealAndCheckLiveness();
    }

    private void Step()
    {
        if (_partitionSteps > 0 && --_partitionSteps == 0)
        {
            _reachable = [.. Enumerable.Range(0, _fleet.Size)];
        }

        int roll = _rng.Next(100);
        switch (roll)
        {
            case < 40:
                SubmitClientOperations();
                break;
            case < 62:
                DeliverStatements();
                break;
            case < 67:
                CrashMember(_rng.Next(_fleet.Size));
                break;
            case < 70:
                WipeMember(_rng.Next(_fleet.Size));
                break;
            case < 75:
                TryRejoinWiped();
                break;
            case < 79:
                Partition();
                break;
            case < 85:
                Elect();
                break;
            case < 88:
                RollBackStore(_rng.Next(_fleet.Size));
                break;
            case < 93:
                ForgeEntry();
                break;
            default:
                ReplayOldEntry();
                break;
        }
    }

    // Clients send; the leader applies; the leader's host stores and ships the entry; each host
    // that gets it (drops and partitions permitting) stores it and has its member capture it.
    private void SubmitClientOperations()
    {
        if (_fleet.Leader < 0 || !Alive(_fleet.Leader))
        {
            Elect();
            return;
        }

        var operations = new List<Operation>();
        var chosen = _users.Where(u => u.Waiting is null).OrderBy(_ => _rng.Next()).Take(_rng.Next(1, 4)).ToList();
        foreach (SimUser user in chosen)
        {
            UserRequest request = user.NextRequest(_rng);
            SealedRequest sealedRequest = _fleet.Seal(request, ++_nextTag);
            user.Waiting = sealedRequest;
            _pending[_nextTag] = new PendingClient(user, sealedRequest);
            operations.Add(_fleet.OperationFor(_nextTag, sealedRequest.Request));
        }

        var batch = new Batch();
        batch.Operations.AddRange(operations);
        EnclaveResponse applied = _fleet.Call(_fleet.Leader, new EnclaveRequest { Batch = batch });
        if (applied.KindCase != EnclaveResponse.KindOneofCase.FleetBatch)
        {
            // Not leader any more, or refused: the clients time out and retry later.
            Refusals++;
            foreach (Operation operation in operations)
            {
                Drop(operation.Tag);
            }

            return;
        }

        foreach (OperationResult immediate in applied.FleetBatch.Immediate)
        {
            // Stale witnesses (a rolled-back store): nothing changed; the client retries.
            Drop(immediate.Tag);
        }

        _fleet.LeaderChain.Add(applied.FleetBatch.Entry);
        if (!_fleet.Stores[_fleet.Leader].Append(applied.FleetBatch.Entry, applied.FleetBatch.Writes))
        {
            // The leader's own store was rolled back under it: its host catches up before storing.
            _fleet.SyncStore(_fleet.Leader, Enumerable.Range(0, _fleet.Size));
            _fleet.Stores[_fleet.Leader].Append(applied.FleetBatch.Entry, applied.FleetBatch.Writes);
        }

        foreach (int member in _reachable.Where(Alive))
        {
            if (_rng.Next(5) == 0)
            {
                continue;
            }

            _fleet.SyncStore(member, [_fleet.Leader]);
            CaptureResult captured = _fleet.CatchUp(member);
            _statements.Add(captured.Statement);
            if (_rng.Next(4) == 0)
            {
                _statements.Add(captured.Statement);
            }
        }
    }

    // The leader's host hands a shuffled mix of fresh, duplicated and old statements to the leader.
    private void DeliverStatements()
    {
        if (_fleet.Leader < 0 || !Alive(_fleet.Leader) || _statements.Count == 0)
        {
            return;
        }

        var commit = new CommitRequest();
        commit.Statements.AddRange(_statements.Where(_ => _rng.Next(6) != 0).OrderBy(_ => _rng.Next()));
        commit.Statements.AddRange(_oldStatements.OrderBy(_ => _rng.Next()).Take(3));
        _oldStatements.AddRange(_statements);
        if (_oldStatements.Count > 200)
        {
            _oldStatements.RemoveRange(0, 100);
        }

        _statements.Clear();
        EnclaveResponse response = _fleet.Call(_fleet.Leader, new EnclaveRequest { Commit = commit });
        if (response.KindCase != EnclaveResponse.KindOneofCase.Commit)
        {
            Refusals++;
            return;
        }

        RecordCommitted(response.Commit.CommittedIndex);
        foreach (OperationResult released in response.Commit.Released)
        {
            Deliver(released);
        }
    }

    private void RecordCommitted(ulong committedIndex)
    {
        foreach (FleetEntry entry in _fleet.LeaderChain.Where(e => e.Index <= committedIndex))
        {
            if (_committed.TryGetValue(entry.Index, out FleetEntry? earlier))
            {
                Require(earlier.Mac.Equals(entry.Mac), $"two different entries committed at index {entry.Index}");
            }
            else
            {
                _committed[entry.Index] = entry;
                Commits++;
            }
        }
    }

    private void Deliver(OperationResult released)
    {
        if (!_pending.Remove(released.Tag, out PendingClient? pending))
        {
            return;
        }

        VaultResponse answer;
        using (pending.Request)
        {
            answer = pending.Request.Open(released.Client, acceptClear: false);
        }

        ClientAnswers++;
        pending.User.Waiting = null;
        pending.User.Answer(answer, _limit, this);
    }

    private void Drop(ulong tag)
    {
        if (_pending.Remove(tag, out PendingClient? pending))
        {
            pending.Request.Dispose();
            pending.User.Waiting = null;
            pending.User.Abandon();
        }
    }

    private void CrashMember(int member)
    {
        _fleet.Restart(member);
        if (!_wiped[member])
        {
            TestFleet.Expect(_fleet.Open(member), EnclaveResponse.KindOneofCase.FleetState, $"open after restart of member {member}");
        }

        if (_fleet.Leader < 0)
        {
            // The crashed leader's held answers are gone: those clients time out.
            foreach (ulong tag in _pending.Keys.ToList())
            {
                Drop(tag);
            }
        }
    }

    private void WipeMember(int member)
    {
        // A wiped member is out for good (until replaced); the properties hold while a majority
        // keeps its NVRAM, so never wipe beyond that.
        if (_wiped[member] || _wiped.Count(w => !w) - 1 < (_fleet.Size / 2) + 1)
        {
            return;
        }

        _fleet.Nvram[member].Wipe();
        _wiped[member] = true;
        CrashMember(member);
        Require(_fleet.CallCapture(member).KindCase == EnclaveResponse.KindOneofCase.Error, $"wiped member {member} still captures");
    }

    // A member that lost its NVRAM must never vote again under its identity: every join is refused.
    private void TryRejoinWiped()
    {
        foreach (int member in Enumerable.Range(0, _fleet.Size).Where(m => _wiped[m]))
        {
            EnclaveResponse joined = _fleet.Join(member, Enumerable.Range(0, _fleet.Size).Where(v => v != member));
            Require(joined.KindCase == EnclaveResponse.KindOneofCase.Error, $"wiped member {member} rejoined after the fleet moved on");
        }
    }

    private void Partition()
    {
        int size = _rng.Next(1, _fleet.Size + 1);
        _reachable = [.. Enumerable.Range(0, _fleet.Size).OrderBy(_ => _rng.Next()).Take(size)];
        _partitionSteps = _rng.Next(1, 8);
    }

    private void Elect()
    {
        var candidates = _reachable.Where(m => Alive(m)).ToList();
        if (candidates.Count == 0)
        {
            return;
        }

        int member = candidates[_rng.Next(candidates.Count)];
        if (_fleet.Leader >= 0 && _fleet.Leader != member)
        {
            _fleet.Call(_fleet.Leader, new EnclaveRequest { StepDown = new StepDownRequest() });
        }

        foreach (ulong tag in _pending.Keys.ToList())
        {
            Drop(tag);
        }

        _statements.Clear();
        try
        {
            _fleet.Elect(member, [.. _reachable.Where(Alive)]);
            RecordCommitted(_fleet.Call(member, new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState.CommittedIndex);
        }
        catch (InvalidOperationException)
        {
            // No quorum reachable (or the candidate is behind a fork): it leads but cannot commit.
            Refusals++;
        }
    }

    private void RollBackStore(int member)
    {
        // A host restores an old backup; what it drops must still be in a peer's store, or the host
        // itself would be destroying the data (availability is the stores' job, safety the HSMs').
        FleetHostStore store = _fleet.Stores[member];
        bool kept = store.Last is { } last && _fleet.Stores.Any(other => !ReferenceEquals(other, store) && other.At(last.Index)?.Mac.Equals(last.Mac) == true);
        if (kept && store.LastIndex > FleetEnclave.GenesisIndex)
        {
            store.RollBackTo((ulong)_rng.NextInt64((long)FleetEnclave.GenesisIndex, (long)store.LastIndex));
        }
    }

    private void ForgeEntry()
    {
        int member = _rng.Next(_fleet.Size);
        if (!Alive(member) || _fleet.Stores[member].Last is not { } last)
        {
            return;
        }

        ulong before = Captured(member);
        FleetEntry forged = last.Clone();
        forged.Index = before + 1;
        forged.PrevMac = ByteString.CopyFrom(_fleet.CaptureMac(member));
        forged.Updates.Add(new LeafUpdate { Key = ByteString.CopyFrom(new byte[32]), ValueHash = ByteString.CopyFrom(Enumerable.Repeat((byte)_rng.Next(256), 32).ToArray()) });
        var request = new CaptureRequest();
        request.Entries.Add(forged);
        CaptureResult result = _fleet.Call(member, new EnclaveRequest { Capture = request }).Capture;
        Require(result.Outcome == CaptureOutcome.CaptureForged, $"a forged entry was answered {result.Outcome}");
        Require(Captured(member) == before, "a forged entry moved NVRAM");
    }

    private void ReplayOldEntry()
    {
        int member = _rng.Next(_fleet.Size);
        if (!Alive(member) || _committed.Count == 0)
        {
            return;
        }

        ulong before = Captured(member);
        FleetEntry old = _committed.Values.ElementAt(_rng.Next(_committed.Count));
        var request = new CaptureRequest();
        request.Entries.Add(old);
        CaptureResult result = _fleet.Call(member, new EnclaveRequest { Capture = request }).Capture;
        Require(result.Outcome != CaptureOutcome.CaptureForged, "a genuine entry was called forged");
        Require(result.Outcome == CaptureOutcome.CaptureOk ? Captured(member) == old.Index : Captured(member) == before, "a refused replay moved NVRAM");
        Require(Captured(member) >= before, "NVRAM moved backwards");
    }

    private void CheckSafety()
    {
        // (2) the committed entries form one chain.
        foreach ((ulong index, FleetEntry entry) in _committed)
        {
            if (_committed.TryGetValue(index - 1, out FleetEntry? previous))
            {
                Require(entry.PrevMac.Equals(previous.Mac), $"committed entry {index} does not chain to committed entry {index - 1}");
            }
        }
    }

    private void HealAndCheckLiveness()
    {
        _reachable = [.. Enumerable.Range(0, _fleet.Size)];
        _partitionSteps = 0;
        for (int member = 0; member < _fleet.Size; member++)
        {
            if (Alive(member))
            {
                CrashMember(member);
            }
        }

        TryRejoinWiped();

        // (4) once the network heals, any member with its NVRAM can lead the fleet.
        int[] alive = [.. Enumerable.Range(0, _fleet.Size).Where(Alive)];
        _fleet.Elect(alive[_rng.Next(alive.Length)], alive);
        RecordCommitted(_fleet.Call(_fleet.Leader, new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState.CommittedIndex);
        CheckSafety();

        // (4) with the network healed and every member up, every operation completes.
        foreach (SimUser user in _users)
        {
            VaultResponse status = _fleet.Send(user.User.StatusRequest());
            Require(status.ResultCase is VaultResponse.ResultOneofCase.Status or VaultResponse.ResultOneofCase.Error, $"status of {user.User.UserId.ToStringUtf8()} did not complete");
            if (user.Candidates.Count > 0 && status.ResultCase == VaultResponse.ResultOneofCase.Status && status.Status.AttemptsLeft >= user.Candidates.Count)
            {
                VaultResponse last = status;
                bool recovered = user.Candidates.OrderBy(c => c, StringComparer.Ordinal).Any(password => user.User.Recover(password, out last) is not null);
                Require(recovered, $"{user.User.UserId.ToStringUtf8()} with guesses left recovered with none of its possible passwords: {last}");
                user.Reset();
            }
        }
    }

    private bool Alive(int member) => !_wiped[member];

    private ulong Captured(int member) => _fleet.Call(member, new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState.CapturedIndex;

    internal void Require(bool condition, string what)
    {
        if (!condition)
        {
            throw new FleetSimulationException(string.Create(CultureInfo.InvariantCulture,
                $"fleet simulation seed {_seed}, step {_step}: {what} (replay: FleetSimulationTests with seed {_seed})"));
        }
    }

    private sealed record PendingClient(SimUser User, SealedRequest Request);

    /// <summary>A user and the model of what the vault may have told it.</summary>
    private sealed class SimUser(FleetUser user)
    {
        private ClientRegistrationState? _registration;
        private ClientLoginState? _login;
        private string? _pendingPassword;
        private bool _loggingIn;

        public FleetUser User { get; } = user;

        public SealedRequest? Waiting { get; set; }

        /// <summary>The password of the live record as far as this user knows, or null.</summary>
        public string? Password { get; private set; }

        /// <summary>
        /// Every password the live record may have: an upload whose answer was lost may still have
        /// committed (a new leader adopts what reached the store), so the client cannot know.
        /// </summary>
        public HashSet<string> Candidates { get; } = [];

        private string? _inFlightUpload;
        private bool _inFlightFinish;

        /// <summary>KE2s released to this user since its record was last registered or recovered.</summary>
        public int GuessesSinceReset { get; private set; }

        private LoginStarted? _started;
        private RegisterStarted? _registerStarted;

        public UserRequest NextRequest(Random rng)
        {
            if (_registerStarted is { } started && _registration is { } state)
            {
                _registerStarted = null;
                _inFlightUpload = _pendingPassword;
                return User.RegisterFinish(state, started, [1, 2, 3, 4]);
            }

            if (_started is { } login && _login is { } loginState)
            {
                _started = null;
                _inFlightFinish = true;
                (byte[] ke3, _) = User.Finish(loginState, login);
                return User.LoginFinish(login.LoginSession, ke3);
            }

            int kind = rng.Next(10);
            if (Password is null && kind < 6 || kind == 0)
            {
                _pendingPassword = $"pw-{rng.Next(1000)}";
                _loggingIn = false;
                UserRequest start = User.RegisterStart(_pendingPassword, out ClientRegistrationState created);
                _registration = created;
                return start;
            }

            if (kind < 8)
            {
                _pendingPassword = rng.Next(2) == 0 && Password is not null ? Password : "wrong";
                _loggingIn = true;
                UserRequest loginStart = User.LoginStart(_pendingPassword, out ClientLoginState created);
                _login = created;
                return loginStart;
            }

            return User.StatusRequest();
        }

        public void Answer(VaultResponse answer, uint limit, FleetSimulation simulation)
        {
            _inFlightUpload = null;
            _inFlightFinish = false;
            switch (answer.ResultCase)
            {
                case VaultResponse.ResultOneofCase.RegisterStarted:
                    _registerStarted = answer.RegisterStarted;
                    break;
                case VaultResponse.ResultOneofCase.Registered:
                    Password = _pendingPassword;
                    Candidates.Clear();
                    Candidates.Add(Password!);
                    GuessesSinceReset = 0;
                    break;
                case VaultResponse.ResultOneofCase.LoginStarted:
                    _started = answer.LoginStarted;
                    GuessesSinceReset++;
                    break;
                case VaultResponse.ResultOneofCase.Recovered:
                    // (1) a recovery after more than the limit of guesses would be an extra guess.
                    simulation.Require(GuessesSinceReset <= limit, $"{User.UserId.ToStringUtf8()} recovered after {GuessesSinceReset} guesses; the limit is {limit}");
                    GuessesSinceReset = 0;
                    break;
                case VaultResponse.ResultOneofCase.Status:
                    simulation.Require(answer.Status.AttemptsLeft <= limit, "more attempts left than the limit");
                    break;
                case VaultResponse.ResultOneofCase.Error when answer.Error.Code == ErrorCode.AuthFailed && answer.Error.AttemptsLeft == 0 && _loggingIn:
                    Password = null;
                    break;
            }

        }

        public void Abandon()
        {
            _registerStarted = null;
            _started = null;
            if (_inFlightUpload is { } upload)
            {
                Candidates.Add(upload);
                Password ??= upload;
            }

            if (_inFlightFinish)
            {
                // A lost answer to a finish may have been a committed reset: count from zero again.
                GuessesSinceReset = 0;
            }

            _inFlightUpload = null;
            _inFlightFinish = false;
        }

        public void Reset() => GuessesSinceReset = 0;
    }
}

/// <summary>A violated fleet property; the message names the seed and the step.</summary>
internal sealed class FleetSimulationException(string message) : Exception(message);
