using HsmVault.Protocol;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Vault;

[TestClass]
public sealed class GroupCommitTests
{
    private static readonly byte[] Blob = new byte[44];

    [TestMethod]
    public void A_batch_of_many_writes_costs_one_nvram_write_and_one_log_entry()
    {
        CountingHsmServices? hsm = null;
        var vault = new TestVault(60, wrap: inner => hsm = new CountingHsmServices(inner));
        var users = Enumerable.Range(0, 20).Select(i => new TestUser(vault, $"user-{i}", (ulong)i)).ToList();
        foreach (TestUser user in users)
        {
            user.Register("pw", Blob);
        }

        int writesBefore = hsm!.NvramWrites;
        BatchResult result = vault.Submit(users.Select(u => vault.OperationFor(u.LoginStartRequest("guess", out _))));

        Assert.AreEqual(1, hsm.NvramWrites - writesBefore);
        Assert.AreEqual(20, result.Entry.Updates.Count);
        Assert.IsTrue(result.Results.All(r => r.Outcome == OperationOutcome.OutcomeOk));
        Assert.IsTrue(users.All(u => u.AttemptsLeft() == 9));
    }

    [TestMethod]
    public void A_read_only_batch_writes_no_nvram_and_no_log_entry()
    {
        CountingHsmServices? hsm = null;
        var vault = new TestVault(61, wrap: inner => hsm = new CountingHsmServices(inner));
        var alice = new TestUser(vault, "alice");
        alice.Register("pw", Blob);
        int writesBefore = hsm!.NvramWrites;

        BatchResult result = vault.Submit([vault.OperationFor(alice.StatusRequest()), vault.OperationFor(new TestUser(vault, "bob").StatusRequest())]);
        Assert.IsNull(result.Entry);
        Assert.AreEqual(writesBefore, hsm.NvramWrites);
    }

    [TestMethod]
    public void When_the_nvram_write_fails_no_answer_is_released_and_nothing_is_counted()
    {
        CountingHsmServices? hsm = null;
        var vault = new TestVault(62, wrap: inner => hsm = new CountingHsmServices(inner));
        var alice = new TestUser(vault, "alice");
        alice.Register("pw", Blob);
        StateReport before = vault.State();

        hsm!.FailNextNvramWrite = true;
        var refused = Assert.ThrowsExactly<EnclaveRefusedException>(() => vault.Submit([vault.OperationFor(alice.LoginStartRequest("guess", out _))]));
        Assert.AreEqual(EnclaveErrorCode.EnclaveInternal, refused.Error.Code);
        Assert.AreEqual(before, vault.State());
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void A_second_write_to_the_same_user_in_one_batch_is_deferred()
    {
        var vault = new TestVault(63);
        var alice = new TestUser(vault, "alice");
        alice.Register("pw", Blob);

        BatchResult result = vault.Submit([
            vault.OperationFor(alice.LoginStartRequest("a", out _)),
            vault.OperationFor(alice.LoginStartRequest("b", out _)),
        ]);
        Assert.AreEqual(OperationOutcome.OutcomeOk, result.Results[0].Outcome);
        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, result.Results[1].Outcome);
        Assert.AreEqual(9u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void Registrations_and_removals_mixed_in_batches_keep_host_and_enclave_roots_equal()
    {
        // TestVault throws if the host's tree, updated from the batch's writes, diverges from the
        // root the enclave committed; proofs in a batch are all built against the starting root.
        var vault = new TestVault(64, new VaultPolicy(AttemptLimit: 1));
        var users = Enumerable.Range(0, 24).Select(i => new TestUser(vault, $"u{i}", (ulong)i)).ToList();
        var starts = users.Select(u => (User: u, Request: u.RegisterStartRequest("pw", out var state), State: state)).ToList();
        BatchResult started = vault.Submit(starts.Select(s => vault.OperationFor(s.Request)));
        vault.Submit(starts.Select((s, i) => vault.OperationFor(s.User.RegisterFinishRequest(s.State, vault.Open(started.Results[i]).RegisterStarted, Blob))));

        // With a limit of one, a wrong guess and a failed KE3 remove the record: removals in a batch.
        BatchResult logins = vault.Submit(users.Where((_, i) => i % 2 == 0).Select(u => vault.OperationFor(u.LoginStartRequest("wrong", out _))));
        vault.Submit(users.Where((_, i) => i % 2 == 0).Select((u, i) => vault.OperationFor(u.LoginFinishRequest(vault.Open(logins.Results[i]).LoginStarted.LoginSession, new byte[32]))));

        Assert.IsTrue(users.Where((_, i) => i % 2 == 0).All(u => u.Status().Error?.Code == ErrorCode.NotRegistered));
        Assert.IsTrue(users.Where((_, i) => i % 2 == 1).All(u => u.AttemptsLeft() == 1));
    }

    [TestMethod]
    public void Log_entries_chain_by_mac_and_carry_the_committed_root()
    {
        var vault = new TestVault(65);
        var alice = new TestUser(vault, "alice");
        alice.Register("pw", Blob);
        alice.Recover("pw", out _);
        alice.Recover("wrong", out _);

        byte[] previous = vault.Hsm.Hmac(HsmHmacKey.LogMac, "HsmVault-v1 genesis"u8);
        for (int i = 0; i < vault.Log.Count; i++)
        {
            LogEntry entry = vault.Log[i];
            Assert.AreEqual((ulong)(i + 1), entry.Index);
            CollectionAssert.AreEqual(previous, entry.PreviousMac.ToByteArray());
            CollectionAssert.AreEqual(vault.Hsm.Hmac(HsmHmacKey.LogMac, LogEntryCodec.MacInput(entry)), entry.Mac.ToByteArray());
            previous = entry.Mac.ToByteArray();
        }

        StateReport state = vault.State();
        Assert.AreEqual(vault.Log[^1].Index, state.LogIndex);
        Assert.AreEqual(vault.Log[^1].MerkleRoot, state.MerkleRoot);
        Assert.AreEqual(vault.Log[^1].Mac, state.EntryMac);
    }

    [TestMethod]
    public void Nvram_holds_under_a_hundred_bytes_whatever_the_number_of_records()
    {
        var vault = new TestVault(66);
        for (int i = 0; i < 30; i++)
        {
            new TestUser(vault, $"user-{i}", (ulong)i).Register("pw", Blob);
        }

        Assert.AreEqual(77, vault.Hsm.ReadNvram().Length);
    }

    [TestMethod]
    public void A_host_that_lost_a_committed_response_recovers_the_store_delta_from_the_state_report()
    {
        var vault = new TestVault(67);
        var alice = new TestUser(vault, "alice");
        alice.Register("pw", Blob);

        // The host sends a login start but never sees the answer (bridge crash after the commit).
        var batch = new Batch();
        batch.Operations.Add(vault.OperationFor(alice.LoginStartRequest("guess", out _)));
        vault.Enclave.Handle(new EnclaveRequest { Batch = batch });

        StateReport state = vault.State();
        Assert.AreEqual(vault.Log[^1].Index + 1, state.LogIndex);
        Assert.AreEqual(state.LogIndex, state.LastEntry.Index);
        Assert.AreEqual(1, state.LastWrites.Count);
        Assert.AreEqual(alice.UserId, state.LastWrites[0].UserId);

        // Without the delta every proof for alice is stale; with it the host catches up.
        Assert.AreEqual(OperationOutcome.OutcomeStaleWitness, vault.SubmitOne(vault.OperationFor(alice.StatusRequest())).Outcome);
        vault.ApplyRecovered(state);
        Assert.AreEqual(9u, alice.AttemptsLeft());
    }
}
