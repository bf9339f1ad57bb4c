using System.Security.Cryptography;
using Google.Protobuf;
using HsmVault.Protocol;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Tests.Vault;

[TestClass]
public sealed class VaultLifecycleTests
{
    private static readonly byte[] Blob = [.. Enumerable.Range(0, 60).Select(i => (byte)i)];

    [TestMethod]
    public void Register_then_recover_returns_the_uploaded_blob()
    {
        var vault = new TestVault(1);
        var alice = new TestUser(vault, "alice");
        alice.Register("correct horse", Blob);

        CollectionAssert.AreEqual(Blob, alice.Recover("correct horse", out _));
    }

    [TestMethod]
    public void Each_wrong_password_costs_exactly_one_attempt()
    {
        var vault = new TestVault(2);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        Assert.AreEqual(10u, alice.AttemptsLeft());

        for (uint expectedLeft = 9; expectedLeft >= 5; expectedLeft--)
        {
            Assert.IsNull(alice.Recover("wrong", out VaultResponse response));
            Assert.AreEqual(ErrorCode.AuthFailed, response.Error.Code);
            Assert.AreEqual(expectedLeft, response.Error.AttemptsLeft);
            Assert.AreEqual(expectedLeft, alice.AttemptsLeft());
        }
    }

    [TestMethod]
    public void The_guess_is_counted_at_login_start_even_if_ke3_never_comes()
    {
        var vault = new TestVault(3);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        for (int i = 0; i < 3; i++)
        {
            VaultResponse started = vault.Send(alice.LoginStartRequest("wrong", out _));
            Assert.AreEqual(VaultResponse.ResultOneofCase.LoginStarted, started.ResultCase);
        }

        Assert.AreEqual(7u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void A_successful_login_resets_the_counter()
    {
        var vault = new TestVault(4);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        for (int i = 0; i < 4; i++)
        {
            alice.Recover("wrong", out _);
        }

        Assert.AreEqual(6u, alice.AttemptsLeft());
        CollectionAssert.AreEqual(Blob, alice.Recover("right", out _));
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void The_last_allowed_guess_can_still_succeed()
    {
        var vault = new TestVault(5);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        for (int i = 0; i < 9; i++)
        {
            alice.Recover("wrong", out _);
        }

        Assert.AreEqual(1u, alice.AttemptsLeft());
        CollectionAssert.AreEqual(Blob, alice.Recover("right", out _));
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void Recover_after_ten_wrong_guesses_destroys_the_record()
    {
        var vault = new TestVault(6);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        for (int i = 0; i < 10; i++)
        {
            Assert.IsNull(alice.Recover("wrong", out VaultResponse response));
            Assert.AreEqual(ErrorCode.AuthFailed, response.Error.Code);
            Assert.AreEqual((uint)(9 - i), response.Error.AttemptsLeft);
        }

        Assert.IsNull(alice.Recover("right", out VaultResponse after), "the right password no longer helps");
        Assert.AreEqual(ErrorCode.AuthFailed, after.Error.Code);
        Assert.AreEqual(0u, after.Error.AttemptsLeft);
        SealedRecord left = vault.WitnessFor(alice.UserId).Record;
        Assert.IsTrue(VaultRecord.TryUnseal(vault.Hsm, alice.UserId.Span, left)!.IsTombstone, "only a tombstone is left, without the key blob");
    }

    [TestMethod]
    public void A_destroyed_user_is_indistinguishable_from_an_unknown_one()
    {
        var vault = new TestVault(7);
        var alice = new TestUser(vault, "alice");
        var nobody = new TestUser(vault, "nobody");
        alice.Register("right", Blob);
        for (int i = 0; i < 10; i++)
        {
            alice.Recover("wrong", out _);
        }

        VaultResponse aliceStatus = alice.Status();
        VaultResponse nobodyStatus = nobody.Status();
        Assert.AreEqual(ErrorCode.NotRegistered, aliceStatus.Error.Code);
        Assert.AreEqual(nobodyStatus.Error, aliceStatus.Error);

        VaultResponse aliceStart = vault.Send(alice.LoginStartRequest("right", out _));
        VaultResponse nobodyStart = vault.Send(nobody.LoginStartRequest("right", out _));
        Assert.AreEqual(VaultResponse.ResultOneofCase.LoginStarted, aliceStart.ResultCase);
        Assert.AreEqual(nobodyStart.LoginStarted.Ke2.Length, aliceStart.LoginStarted.Ke2.Length);
        Assert.AreEqual(nobodyStart.LoginStarted.LoginSession.Length, aliceStart.LoginStarted.LoginSession.Length);

        VaultResponse aliceFinish = vault.Send(alice.LoginFinishRequest(aliceStart.LoginStarted.LoginSession, new byte[32]));
        VaultResponse nobodyFinish = vault.Send(nobody.LoginFinishRequest(nobodyStart.LoginStarted.LoginSession, new byte[32]));
        Assert.AreEqual(nobodyFinish.Error, aliceFinish.Error);
    }

    [TestMethod]
    public void An_unknown_user_gets_a_fake_ke2_of_the_real_size_that_is_stable_per_user()
    {
        var vault = new TestVault(8);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        var nobody = new TestUser(vault, "nobody");

        VaultResponse real = vault.Send(alice.LoginStartRequest("x", out _));
        VaultResponse fake1 = vault.Send(nobody.LoginStartRequest("x", out _));
        VaultResponse fake2 = vault.Send(nobody.LoginStartRequest("y", out _));
        Assert.AreEqual(real.LoginStarted.Ke2.Length, fake1.LoginStarted.Ke2.Length);
        Assert.AreEqual(real.LoginStarted.LoginSession.Length, fake1.LoginStarted.LoginSession.Length);

        Assert.AreNotEqual(fake1.LoginStarted.Ke2, fake2.LoginStarted.Ke2);
        Assert.AreEqual(ErrorCode.NotRegistered, nobody.Status().Error.Code);
    }

    [TestMethod]
    public void Delete_by_the_user_after_a_successful_login_removes_the_record()
    {
        var vault = new TestVault(9);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);

        VaultResponse wrong = alice.Login("wrong", LoginAction.Delete, out _);
        Assert.AreEqual(ErrorCode.AuthFailed, wrong.Error.Code);
        Assert.AreEqual(9u, alice.AttemptsLeft(), "a failed delete is just a failed guess");

        VaultResponse deleted = alice.Login("right", LoginAction.Delete, out _);
        Assert.AreEqual(VaultResponse.ResultOneofCase.Deleted, deleted.ResultCase);
        Assert.AreEqual(ErrorCode.NotRegistered, alice.Status().Error.Code);
        Assert.IsNull(alice.Recover("right", out _));
    }

    [TestMethod]
    public void Delete_by_the_operator_needs_the_policy_key_and_cannot_reach_a_later_registration()
    {
        using var operatorKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        ECParameters p = operatorKey.ExportParameters(false);
        var policy = new VaultPolicy(OperatorPublicKey: [0x04, .. p.Q.X!, .. p.Q.Y!]);
        var vault = new TestVault(10, policy);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        ulong signedAt = vault.State().LogIndex;

        using var intruder = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        OperationResult forged = vault.SubmitOne(OperatorDelete(vault, alice.UserId, signedAt, intruder));
        Assert.AreEqual(OperationOutcome.OutcomeUnauthorized, forged.Outcome);
        Assert.AreEqual(10u, alice.AttemptsLeft());

        OperatorDelete authorised = OperatorDelete(vault, alice.UserId, signedAt, operatorKey).OperatorDelete;
        OperationResult deleted = vault.SubmitOne(WithWitness(vault, authorised));
        Assert.AreEqual(OperationOutcome.OutcomeOk, deleted.Outcome, deleted.Detail);
        Assert.AreEqual(ErrorCode.NotRegistered, alice.Status().Error.Code);

        // Alice registers again; replaying the old authorisation must not delete the new record.
        alice.Register("new", Blob);
        OperationResult replay = vault.SubmitOne(WithWitness(vault, authorised));
        Assert.AreEqual(OperationOutcome.OutcomeUnauthorized, replay.Outcome);
        CollectionAssert.AreEqual(Blob, alice.Recover("new", out _));
    }

    [TestMethod]
    public void Operator_delete_is_refused_when_the_policy_has_no_operator_key()
    {
        var vault = new TestVault(11);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.AreEqual(OperationOutcome.OutcomeUnauthorized, vault.SubmitOne(OperatorDelete(vault, alice.UserId, 100, key)).Outcome);
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void Re_registration_replaces_the_record_and_the_old_password_stops_working()
    {
        var vault = new TestVault(12);
        var alice = new TestUser(vault, "alice");
        alice.Register("old", Blob);
        alice.Recover("wrong", out _);
        byte[] newBlob = SHA256.HashData(Blob);
        alice.Register("new", newBlob);

        Assert.AreEqual(10u, alice.AttemptsLeft());
        Assert.IsNull(alice.Recover("old", out _));
        CollectionAssert.AreEqual(newBlob, alice.Recover("new", out _));
    }

    [TestMethod]
    public void A_restarted_enclave_continues_from_nvram()
    {
        var nvram = new Simulator.InMemoryNvram();
        var vault = new TestVault(13, nvram: nvram);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        alice.Recover("wrong", out _);
        StateReport before = vault.State();

        var restarted = new VaultEnclave(new Simulator.InMemoryHsmServices(13, nvram), VaultPolicy.Default);
        StateReport after = restarted.Handle(new EnclaveRequest { Initialize = new InitializeRequest() }).State;
        Assert.AreEqual(before.LogIndex, after.LogIndex);
        Assert.AreEqual(before.MerkleRoot, after.MerkleRoot);
        Assert.AreEqual(before.EntryMac, after.EntryMac);
        Assert.IsNull(after.LastEntry, "the last batch is kept in enclave RAM only");

        var batch = new Batch();
        batch.Operations.Add(vault.OperationFor(alice.StatusRequest()));
        VaultResponse status = vault.Open(restarted.Handle(new EnclaveRequest { Batch = batch }).Batch.Results[0]);
        Assert.AreEqual(9u, status.Status.AttemptsLeft, "the restarted enclave accepts the host's proofs against the same root");
    }

    private static Operation OperatorDelete(TestVault vault, ByteString userId, ulong maxVersion, ECDsa key)
    {
        byte[] signature = key.SignData(OperatorDeleteStatement.ToSign(userId.Span, maxVersion), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return WithWitness(vault, new OperatorDelete { UserId = userId, MaxRecordVersion = maxVersion, Signature = ByteString.CopyFrom(signature) });
    }

    private static Operation WithWitness(TestVault vault, OperatorDelete delete) =>
        new() { Tag = 1, OperatorDelete = delete, Witness = vault.WitnessFor(delete.UserId) };
}
