using Google.Protobuf;
using HsmVault.Crypto.Opaque;
using HsmVault.Enclave.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Fleet;

/// <summary>
/// The fleet protocol of docs/REPLICATION.md, one rule at a time, with a hostile host where the rule
/// is about what a host may not do.
/// </summary>
[TestClass]
public sealed class FleetTests
{
    private static readonly byte[] Blob = [.. Enumerable.Range(0, 48).Select(i => (byte)(i * 3))];

    private static TestFleet Formed(int members = 5, ulong seed = 1, uint attemptLimit = 10, ulong memberSeedBase = 0)
    {
        var fleet = new TestFleet(members, seed, attemptLimit, memberSeedBase);
        fleet.Form();
        fleet.Elect(0);
        return fleet;
    }

    [TestMethod]
    public void A_formed_fleet_registers_and_recovers_with_a_majority_of_members()
    {
        TestFleet fleet = Formed();
        var alice = new FleetUser(fleet, "alice");
        int[] majority = [0, 2, 4];

        VaultResponse started = fleet.Send(alice.RegisterStart("right", out ClientRegistrationState state), majority);
        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, fleet.Send(alice.RegisterFinish(state, started.RegisterStarted, Blob), majority).ResultCase);
        CollectionAssert.AreEqual(Blob, alice.Recover("right", out _));
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void Nothing_is_released_before_a_quorum_captured_the_entry()
    {
        TestFleet fleet = Formed();
        var alice = new FleetUser(fleet, "alice");
        using SealedRequest status = fleet.Seal(alice.StatusRequest(), 1);

        // Two of five captured: the answer stays held.
        CommitResult minority = fleet.Round([fleet.OperationFor(1, status.Request)], [0, 1]);
        Assert.IsEmpty(minority.Released, "no answer leaves with two of five captures");

        // A third member's host gets the entry later and its member captures it: now it commits.
        fleet.SyncStore(2, [0]);
        CaptureResult third = fleet.CatchUp(2);
        var commit = new CommitRequest();
        commit.Statements.Add(third.Statement);
        commit.Statements.Add(fleet.CatchUp(0).Statement);
        commit.Statements.Add(fleet.CatchUp(1).Statement);
        CommitResult majority = fleet.Call(0, new EnclaveRequest { Commit = commit }).Commit;
        Assert.HasCount(1, majority.Released);
        Assert.AreEqual(ErrorCode.NotRegistered, status.Open(majority.Released[0].Client).Error.Code);
    }

    [TestMethod]
    public void Replayed_or_forged_statements_do_not_make_a_quorum()
    {
        TestFleet fleet = Formed();
        var alice = new FleetUser(fleet, "alice");
        using SealedRequest status = fleet.Seal(alice.StatusRequest(), 1);
        CommitResult held = fleet.Round([fleet.OperationFor(1, status.Request)], [0]);
        Assert.IsEmpty(held.Released);
        CapturedStatement own = fleet.CatchUp(0).Statement;

        // The same member's statement three times, one for an older entry, and one with a bad MAC.
        var commit = new CommitRequest();
        commit.Statements.Add(own);
        commit.Statements.Add(own);
        commit.Statements.Add(own);
        CapturedStatement forged = own.Clone();
        forged.Member = ByteString.CopyFrom(fleet.Enclaves[1].MemberId);
        commit.Statements.Add(forged);
        CapturedStatement old = own.Clone();
        old.Index--;
        commit.Statements.Add(old);
        Assert.IsEmpty(fleet.Call(0, new EnclaveRequest { Commit = commit }).Commit.Released);
    }

    [TestMethod]
    public void Capture_refuses_forged_replayed_forked_and_out_of_order_entries()
    {
        TestFleet fleet = Formed();
        FleetEntry last = fleet.Stores[0].Last!;
        ulong captured = fleet.CatchUp(3).CapturedIndex;

        FleetEntry forged = last.Clone();
        forged.MerkleRoot = ByteString.CopyFrom(Enumerable.Repeat((byte)0xA5, 32).ToArray());
        Assert.AreEqual(CaptureOutcome.CaptureForged, Capture(fleet, 3, forged).Outcome);
        Assert.AreEqual(CaptureOutcome.CaptureStale, Capture(fleet, 3, last).Outcome, "a replay of the entry already captured");

        // A second leader writes another entry at the next index: the member that captured one refuses the other.
        var alice = new FleetUser(fleet, "alice");
        using SealedRequest status = fleet.Seal(alice.StatusRequest(), 1);
        var batch = new Batch();
        batch.Operations.Add(fleet.OperationFor(1, status.Request));
        FleetEntry first = fleet.Call(0, new EnclaveRequest { Batch = batch }).FleetBatch.Entry;
        fleet.Call(1, new EnclaveRequest { BecomeLeader = new BecomeLeaderRequest { Entry = last } });
        FleetEntry rival = fleet.Call(1, new EnclaveRequest { Batch = new Batch() }).FleetBatch.Entry;
        Assert.AreEqual(first.Index, rival.Index);
        Assert.AreEqual(CaptureOutcome.CaptureOk, Capture(fleet, 3, first).Outcome);
        Assert.AreEqual(CaptureOutcome.CaptureStale, Capture(fleet, 3, rival).Outcome, "another entry at a captured index");

        FleetEntry beyond = fleet.Call(1, new EnclaveRequest { Batch = new Batch() }).FleetBatch.Entry;
        Assert.AreEqual(CaptureOutcome.CaptureFork, Capture(fleet, 3, beyond).Outcome, "the rival chain's next entry does not chain to what member 3 holds");
        Assert.AreEqual(CaptureOutcome.CaptureGap, Capture(fleet, 4, beyond).Outcome, "two ahead of member 4");
        Assert.AreEqual(captured + 1, fleet.CatchUp(3).CapturedIndex, "NVRAM moved only for the one good entry");
    }

    [TestMethod]
    public void A_leader_that_sees_another_entry_at_its_index_steps_down_and_releases_nothing()
    {
        TestFleet fleet = Formed();
        var alice = new FleetUser(fleet, "alice");
        FleetEntry last = fleet.Stores[0].Last!;
        using SealedRequest status = fleet.Seal(alice.StatusRequest(), 1);
        var batch = new Batch();
        batch.Operations.Add(fleet.OperationFor(1, status.Request));
        FleetEntry held = fleet.Call(0, new EnclaveRequest { Batch = batch }).FleetBatch.Entry;

        // Member 1 leads from the same base and its entry reaches member 0 first.
        fleet.Call(1, new EnclaveRequest { BecomeLeader = new BecomeLeaderRequest { Entry = last } });
        FleetEntry rival = fleet.Call(1, new EnclaveRequest { Batch = new Batch() }).FleetBatch.Entry;
        Assert.AreEqual(CaptureOutcome.CaptureOk, Capture(fleet, 0, rival).Outcome);

        Assert.AreEqual(FleetRole.Witness, fleet.Call(0, new EnclaveRequest { FleetState = new FleetStateQuery() }).FleetState.Role);
        var commit = new CommitRequest();
        foreach (int member in new[] { 2, 3, 4 })
        {
            commit.Statements.Add(Capture(fleet, member, held).Statement);
        }

        EnclaveResponse refused = fleet.Call(0, new EnclaveRequest { Commit = commit });
        Assert.AreEqual(EnclaveErrorCode.NotLeader, refused.Error.Code, "the held answer is gone with the leadership");
    }

    [TestMethod]
    public void An_enclave_restarted_with_another_attempt_limit_refuses_to_serve()
    {
        TestFleet fleet = Formed();
        fleet.Restart(2);
        var tampered = fleet.Configuration.Clone();
        tampered.AttemptLimit = 1000;
        EnclaveResponse refused = fleet.Call(2, new EnclaveRequest { FleetOpen = new FleetOpenRequest { Configuration = tampered } });
        Assert.AreEqual(EnclaveErrorCode.FleetRefused, refused.Error.Code);
        StringAssert.Contains(refused.Error.Message, "refusing to serve");

        var otherOperator = fleet.Configuration.Clone();
        otherOperator.OperatorPublicKey = ByteString.CopyFrom([0x04, .. new byte[64]]);
        Assert.AreEqual(EnclaveErrorCode.FleetRefused, fleet.Call(2, new EnclaveRequest { FleetOpen = new FleetOpenRequest { Configuration = otherOperator } }).Error.Code);
        Assert.AreEqual(EnclaveErrorCode.FleetRefused, fleet.CallCapture(2).Error.Code, "a member not opened serves nothing");
        Assert.AreEqual(EnclaveResponse.KindOneofCase.FleetState, fleet.Open(2).KindCase, "the right configuration opens it");
    }

    [TestMethod]
    public void A_replayed_upload_does_not_resurrect_a_destroyed_record_in_a_second_fleet_with_the_same_keys()
    {
        TestFleet fleet = Formed(members: 3, seed: 5, attemptLimit: 2);
        var alice = new FleetUser(fleet, "alice");
        VaultResponse started = fleet.Send(alice.RegisterStart("right", out ClientRegistrationState state));
        UserRequest upload = alice.RegisterFinish(state, started.RegisterStarted, Blob);
        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, fleet.Send(upload).ResultCase);
        Assert.IsNull(alice.Recover("wrong", out _));
        Assert.IsNull(alice.Recover("wrong", out VaultResponse last));
        Assert.AreEqual(0u, alice.AttemptsLeft(), "destroyed");

        // The host builds a second fleet on fresh HSMs holding the same fleet keys, and replays the upload.
        TestFleet second = Formed(members: 3, seed: 5, attemptLimit: 2, memberSeedBase: 100);
        CollectionAssert.AreNotEqual(fleet.FleetId, second.FleetId, "each genesis draws its own fleet id");
        VaultResponse replayed = second.Send(upload);
        Assert.AreEqual(ErrorCode.BadRequest, replayed.Error.Code, "the registration ticket is bound to the first fleet");
        Assert.AreEqual("register_finish.registration_session", replayed.Error.Field);
        Assert.AreEqual(0u, new FleetUser(second, "alice").AttemptsLeft(), "no record, so no guesses");
    }

    [TestMethod]
    public void A_member_that_lost_its_nvram_never_votes_again_and_the_majority_serves_on()
    {
        TestFleet fleet = Formed();
        var alice = new FleetUser(fleet, "alice");
        alice.Register("right", Blob);

        fleet.Nvram[4].Wipe();
        fleet.Restart(4);
        Assert.AreEqual(EnclaveErrorCode.NotInitialized, fleet.CallCapture(4).Error.Code, "a wiped member captures nothing");

        // Every other member vouches, all of them joined and beyond genesis: still refused, because its
        // statements from before the loss are still valid and could be counted beside new votes.
        EnclaveResponse refused = fleet.Join(4, [0, 1, 2, 3]);
        Assert.AreEqual(EnclaveErrorCode.FleetRefused, refused.Error.Code);
        StringAssert.Contains(refused.Error.Message, "must be replaced");

        // A vouch made for another challenge cannot be replayed into a join either.
        fleet.Call(4, new EnclaveRequest { JoinChallenge = new JoinChallengeRequest() });
        VouchStatement stale = fleet.Call(1, new EnclaveRequest
        {
            Vouch = new VouchRequest { FleetId = ByteString.CopyFrom(fleet.FleetId), ConfigurationHash = ByteString.CopyFrom(fleet.ConfigurationHash), Joiner = ByteString.CopyFrom(fleet.Enclaves[4].MemberId), Nonce = ByteString.CopyFrom(new byte[32]) },
        }).Vouch;
        var replay = new JoinRequest { Configuration = fleet.Configuration, FleetId = ByteString.CopyFrom(fleet.FleetId) };
        replay.Vouches.Add(stale);
        StringAssert.Contains(fleet.Call(4, new EnclaveRequest { Join = replay }).Error.Message, "does not verify");

        CollectionAssert.AreEqual(Blob, alice.Recover("right", out _), "the four others serve on");
    }

    [TestMethod]
    public void A_wiped_member_cannot_rejoin_at_genesis_after_the_fleet_moved_on()
    {
        TestFleet fleet = Formed();
        fleet.Nvram[4].Wipe();
        fleet.Restart(4);
        fleet.Nvram[3].Wipe();
        fleet.Restart(3);

        // Members 0-2 are beyond genesis: no forming join, and the two wiped members cannot vouch
        // each other back in.
        EnclaveResponse refused = fleet.Join(4, [0, 1, 2, 3]);
        Assert.AreEqual(EnclaveErrorCode.FleetRefused, refused.Error.Code);
        Assert.AreEqual(EnclaveErrorCode.FleetRefused, fleet.Join(4, [3]).Error.Code, "nor with the other wiped member alone");
    }

    [TestMethod]
    public void A_leader_change_adopts_the_stored_tail_and_the_old_leaders_held_answers_never_leave()
    {
        TestFleet fleet = Formed();
        var alice = new FleetUser(fleet, "alice");
        alice.Register("right", Blob);

        // The old leader applies a counted guess; its entry reaches only its own host's store.
        using SealedRequest guess = fleet.Seal(alice.LoginStart("wrong", out _), 1);
        CommitResult held = fleet.Round([fleet.OperationFor(1, guess.Request)], [0]);
        Assert.IsEmpty(held.Released);
        fleet.Restart(0);
        fleet.Open(0);

        // Member 1 takes over from the longest store: it adopts the entry, so the guess stays counted.
        fleet.Elect(1, [0, 1, 2, 3, 4]);
        Assert.AreEqual(9u, alice.AttemptsLeft(), "the adopted entry's counted guess survives the leader change");

        var batch = new Batch();
        using SealedRequest status = fleet.Seal(alice.StatusRequest(), 2);
        batch.Operations.Add(fleet.OperationFor(2, status.Request));
        Assert.AreEqual(EnclaveErrorCode.NotLeader, fleet.Call(0, new EnclaveRequest { Batch = batch }).Error.Code, "the old leader lost its role with its RAM");
    }

    [TestMethod]
    public void A_new_leaders_first_entry_carries_no_operations()
    {
        var fleet = new TestFleet(3);
        fleet.Form();
        FleetEntry genesis = fleet.Stores[0].Last!;
        fleet.Call(0, new EnclaveRequest { BecomeLeader = new BecomeLeaderRequest { Entry = genesis } });
        using SealedRequest status = fleet.Seal(UserRequest.For("alice", new VaultRequest { Status = new StatusQuery() }), 1);
        var batch = new Batch();
        batch.Operations.Add(new Operation { Tag = 1, Client = status.Request, Witness = fleet.Stores[0].WitnessFor(status.Request.UserId) });
        Assert.AreEqual(EnclaveErrorCode.FleetRefused, fleet.Call(0, new EnclaveRequest { Batch = batch }).Error.Code);
    }

    [TestMethod]
    public void A_crash_after_apply_and_before_the_store_loses_no_committed_state_and_bricks_nothing()
    {
        TestFleet fleet = Formed();
        var alice = new FleetUser(fleet, "alice");
        alice.Register("right", Blob);
        ulong before = fleet.Stores[0].LastIndex;

        // The leader applies a batch; the response is lost before any host stored the entry; the HSM restarts.
        using SealedRequest guess = fleet.Seal(alice.LoginStart("wrong", out _), 1);
        var batch = new Batch();
        batch.Operations.Add(fleet.OperationFor(1, guess.Request));
        Assert.AreEqual(EnclaveResponse.KindOneofCase.FleetBatch, fleet.Call(0, new EnclaveRequest { Batch = batch }).KindCase);
        fleet.Restart(0);
        fleet.Open(0);

        Assert.AreEqual(before, fleet.CatchUp(0).CapturedIndex, "NVRAM never ran ahead of the store");
        fleet.Elect(0);
        CollectionAssert.AreEqual(Blob, alice.Recover("right", out _), "every user is still served");
    }

    [TestMethod]
    public void The_fleet_refuses_while_a_majority_is_down_and_serves_when_it_returns()
    {
        TestFleet fleet = Formed();
        var alice = new FleetUser(fleet, "alice");
        alice.Register("right", Blob);
        using SealedRequest status = fleet.Seal(alice.StatusRequest(), 1);
        CommitResult minority = fleet.Round([fleet.OperationFor(1, status.Request)], [0, 1]);
        Assert.IsEmpty(minority.Released, "two of five: nothing commits");

        fleet.SyncStore(2, [0]);
        var commit = new CommitRequest();
        foreach (int member in new[] { 0, 1, 2 })
        {
            commit.Statements.Add(fleet.CatchUp(member).Statement);
        }

        Assert.HasCount(1, fleet.Call(0, new EnclaveRequest { Commit = commit }).Commit.Released, "a third member back: it commits");
    }

    private static CaptureResult Capture(TestFleet fleet, int member, FleetEntry entry)
    {
        var request = new CaptureRequest();
        request.Entries.Add(entry);
        return fleet.Call(member, new EnclaveRequest { Capture = request }).Capture;
    }
}
