using Google.Protobuf;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Vault;

/// <summary>
/// The host is untrusted: every trick here must be refused with a typed outcome, and none may
/// yield a guess the counter does not see.
/// </summary>
[TestClass]
public sealed class HostileHostTests
{
    private static readonly byte[] Blob = [.. Enumerable.Range(0, 48).Select(i => (byte)(i * 7))];

    private static (TestVault Vault, TestUser Alice) Registered(ulong seed) => TestVault.WithAlice(seed, Blob);

    [TestMethod]
    public void A_rolled_back_record_is_refused_and_gives_no_guess()
    {
        var (vault, alice) = Registered(20);
        RecordWitness fresh = vault.WitnessFor(alice.UserId);
        for (int i = 0; i < 3; i++)
        {
            alice.Recover("wrong", out _);
        }

        // The host hands back the record (and proof) from before the three guesses.
        Operation replayed = vault.OperationFor(alice.LoginStartRequest("guess", out _));
        replayed.Witness = fresh;
        OperationResult result = vault.SubmitOne(replayed);

        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, result.Outcome, result.Detail);
        Assert.AreEqual(ErrorCode.Unavailable, result.Client.Error.Code);
        Assert.AreEqual(7u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void A_rolled_back_record_with_a_current_proof_is_refused()
    {
        var (vault, alice) = Registered(21);
        SealedRecord old = vault.WitnessFor(alice.UserId).Record;
        alice.Recover("wrong", out _);

        Operation operation = vault.OperationFor(alice.LoginStartRequest("guess", out _));
        operation.Witness.Record = old;
        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, vault.SubmitOne(operation).Outcome);
        Assert.AreEqual(9u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void Another_users_record_is_refused()
    {
        var (vault, alice) = Registered(22);
        var bob = new TestUser(vault, "bob");
        bob.Register("bobs", Blob);

        Operation withBobsRecord = vault.OperationFor(alice.LoginStartRequest("bobs", out _));
        withBobsRecord.Witness.Record = vault.WitnessFor(bob.UserId).Record;
        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, vault.SubmitOne(withBobsRecord).Outcome);

        Operation withBobsWitness = vault.OperationFor(alice.LoginStartRequest("bobs", out _));
        withBobsWitness.Witness = vault.WitnessFor(bob.UserId);
        OperationResult result = vault.SubmitOne(withBobsWitness);
        Assert.IsTrue(result.Outcome is OperationOutcome.OutcomeStaleWitness or OperationOutcome.OutcomeIntegrityFailure, result.Outcome.ToString());

        Assert.AreEqual(10u, alice.AttemptsLeft());
        Assert.AreEqual(10u, bob.AttemptsLeft());
    }

    [TestMethod]
    public void A_replayed_ke3_gets_nothing_after_the_login_it_belonged_to()
    {
        var (vault, alice) = Registered(23);
        VaultResponse started = vault.Send(alice.LoginStartRequest("right", out ClientLoginState state));
        LoginResult local = alice.TryFinishLocally(state, started.LoginStarted)!;
        UserRequest finish = alice.LoginFinishRequest(started.LoginStarted.LoginSession, local.KE3);

        Assert.AreEqual(VaultResponse.ResultOneofCase.Recovered, vault.Send(finish).ResultCase);
        VaultResponse replay = vault.Send(finish);
        Assert.AreEqual(ErrorCode.Stale, replay.Error.Code);
        Assert.AreEqual("login_finish.login_session", replay.Error.Field);
    }

    [TestMethod]
    public void A_login_session_is_stale_once_another_login_has_started()
    {
        var (vault, alice) = Registered(24);
        VaultResponse first = vault.Send(alice.LoginStartRequest("right", out ClientLoginState state));
        LoginResult local = alice.TryFinishLocally(state, first.LoginStarted)!;
        vault.Send(alice.LoginStartRequest("wrong", out _));

        VaultResponse late = vault.Send(alice.LoginFinishRequest(first.LoginStarted.LoginSession, local.KE3));
        Assert.AreEqual(ErrorCode.Stale, late.Error.Code);
        Assert.AreEqual(8u, alice.AttemptsLeft(), "two login starts, two guesses, no reset");
    }

    [TestMethod]
    public void A_login_session_replayed_with_the_old_record_is_refused()
    {
        var (vault, alice) = Registered(25);
        VaultResponse started = vault.Send(alice.LoginStartRequest("right", out ClientLoginState state));
        RecordWitness atLogin = vault.WitnessFor(alice.UserId);
        LoginResult local = alice.TryFinishLocally(state, started.LoginStarted)!;
        Assert.AreEqual(VaultResponse.ResultOneofCase.Recovered, vault.Send(alice.LoginFinishRequest(started.LoginStarted.LoginSession, local.KE3)).ResultCase);

        // The host replays the finish together with the record as it was when the session was made.
        Operation replay = vault.OperationFor(alice.LoginFinishRequest(started.LoginStarted.LoginSession, local.KE3));
        replay.Witness = atLogin;
        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, vault.SubmitOne(replay).Outcome);
    }

    [TestMethod]
    public void A_login_session_of_another_user_is_refused()
    {
        var (vault, alice) = Registered(26);
        var bob = new TestUser(vault, "bob");
        bob.Register("bobs", Blob);
        VaultResponse bobStarted = vault.Send(bob.LoginStartRequest("bobs", out _));

        VaultResponse crossed = vault.Send(alice.LoginFinishRequest(bobStarted.LoginStarted.LoginSession, new byte[32]));
        Assert.AreEqual(ErrorCode.BadRequest, crossed.Error.Code);
        Assert.AreEqual("login_finish.login_session", crossed.Error.Field);
    }

    [TestMethod]
    public void A_tampered_proof_is_refused_and_gives_no_guess()
    {
        var (vault, alice) = Registered(27);
        new TestUser(vault, "bob").Register("x", Blob);
        new TestUser(vault, "carol").Register("x", Blob);

        Operation operation = vault.OperationFor(alice.LoginStartRequest("guess", out _));
        byte[] sibling = operation.Witness.Proof.Siblings[0].ToByteArray();
        sibling[0] ^= 0x80;
        operation.Witness.Proof.Siblings[0] = ByteString.CopyFrom(sibling);
        OperationResult result = vault.SubmitOne(operation);

        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, result.Outcome, result.Detail);
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void A_malformed_proof_is_an_integrity_failure()
    {
        var (vault, alice) = Registered(28);
        Operation operation = vault.OperationFor(alice.StatusRequest());
        operation.Witness.Proof.Siblings.Add(ByteString.CopyFrom(new byte[5]));
        Assert.AreEqual(OperationOutcome.OutcomeIntegrityFailure, vault.SubmitOne(operation).Outcome);
    }

    [TestMethod]
    public void A_tampered_sealed_record_is_refused_and_gives_no_guess()
    {
        var (vault, alice) = Registered(29);
        Operation operation = vault.OperationFor(alice.LoginStartRequest("guess", out _));
        byte[] ciphertext = operation.Witness.Record.Ciphertext.ToByteArray();
        ciphertext[20] ^= 1;
        operation.Witness.Record.Ciphertext = ByteString.CopyFrom(ciphertext);
        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, vault.SubmitOne(operation).Outcome);

        Operation versionBumped = vault.OperationFor(alice.LoginStartRequest("guess", out _));
        versionBumped.Witness.Record.Version += 1;
        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, vault.SubmitOne(versionBumped).Outcome);
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void A_forged_non_membership_proof_is_refused()
    {
        var (vault, alice) = Registered(30);
        new TestUser(vault, "bob").Register("x", Blob);

        // Claim alice has no record, to get an uncounted fake KE2 or to register over her silently.
        Operation loginStart = vault.OperationFor(alice.LoginStartRequest("guess", out _));
        loginStart.Witness.Record = null;
        loginStart.Witness.Proof.Terminal = null;
        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, vault.SubmitOne(loginStart).Outcome);

        Operation status = vault.OperationFor(alice.StatusRequest());
        status.Witness = vault.WitnessFor(ByteString.CopyFromUtf8("nobody"));
        OperationResult result = vault.SubmitOne(status);
        Assert.IsTrue(result.Outcome is OperationOutcome.OutcomeStaleWitness or OperationOutcome.OutcomeIntegrityFailure, result.Outcome.ToString());
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void A_missing_witness_is_stale_not_an_unknown_user()
    {
        var (vault, alice) = Registered(31);
        Operation operation = vault.OperationFor(alice.LoginStartRequest("guess", out _));
        operation.Witness = null;
        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, vault.SubmitOne(operation).Outcome);
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void No_host_trick_yields_more_counted_guesses_than_the_limit()
    {
        // An attacker-controlled host mixes honest guesses with every replay it can build. A KE2
        // computed from the real record always comes with a counter write for that record; there
        // must be at most ten, and afterwards the correct password must no longer work.
        var (vault, alice) = Registered(32);
        var witnesses = new List<RecordWitness> { vault.WitnessFor(alice.UserId) };
        int countedGuesses = 0;
        for (int round = 0; round < 14; round++)
        {
            foreach (RecordWitness old in witnesses)
            {
                Operation replay = vault.OperationFor(alice.LoginStartRequest("guess", out _));
                replay.Witness = old.Clone();
                countedGuesses += CountedGuesses(vault, vault.Submit([replay]));
            }

            countedGuesses += CountedGuesses(vault, vault.Submit([vault.OperationFor(alice.LoginStartRequest("guess", out _))]));
            witnesses.Add(vault.WitnessFor(alice.UserId));
        }

        Assert.AreEqual(10, countedGuesses);
        Assert.IsNull(alice.Recover("right", out _));
    }

    // A counted guess is a write of a live record (a tombstone is the record's destruction).
    private static int CountedGuesses(TestVault vault, BatchResult result) =>
        result.Results[0].Outcome == OperationOutcome.OutcomeOk
            ? result.Writes.Count(w => w.Record is not null && !VaultRecord.TryUnseal(vault.Hsm, w.UserId.Span, w.Record)!.IsTombstone)
            : 0;

    [TestMethod]
    public void A_replayed_registration_upload_cannot_restore_a_destroyed_record()
    {
        var vault = new TestVault(33);
        var alice = new TestUser(vault, "alice");
        VaultResponse started = vault.Send(alice.RegisterStartRequest("right", out var state));
        UserRequest upload = alice.RegisterFinishRequest(state, started.RegisterStarted, Blob);
        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, vault.Send(upload).ResultCase);

        // Replayed while the record lives: it would reset the counter.
        alice.Recover("wrong", out _);
        VaultResponse replayed = vault.Send(upload);
        Assert.AreEqual(ErrorCode.Stale, replayed.Error.Code);
        Assert.AreEqual(9u, alice.AttemptsLeft());

        // Replayed after the limit destroyed it: it would give ten fresh guesses at the same password.
        for (int i = 0; i < 9; i++)
        {
            alice.Recover("wrong", out _);
        }

        Assert.AreEqual(ErrorCode.NotRegistered, alice.Status().Error.Code);
        Assert.AreEqual(ErrorCode.Stale, vault.Send(upload).Error.Code);
        Assert.IsNull(alice.Recover("right", out _));
    }

    [TestMethod]
    public void A_registration_started_before_a_deletion_cannot_finish_after_it()
    {
        var vault = new TestVault(34);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        VaultResponse started = vault.Send(alice.RegisterStartRequest("next", out var state));
        Assert.AreEqual(VaultResponse.ResultOneofCase.Deleted, alice.Login("right", LoginAction.Delete, out _).ResultCase);

        Assert.AreEqual(ErrorCode.Stale, vault.Send(alice.RegisterFinishRequest(state, started.RegisterStarted, Blob)).Error.Code);
        alice.Register("again", Blob);
        CollectionAssert.AreEqual(Blob, alice.Recover("again", out _));
    }
}
