using System.Text.Json.Nodes;
using HsmVault.Client.Transparency;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Tests;

[TestClass]
public sealed class ValidationBundleTests
{
    [TestMethod]
    public void A_good_bundle_is_accepted_and_survives_its_JSON_form()
    {
        using var log = new TestLog();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        log.Append(1, fleet);
        log.Append(2, TestLog.NewFleet("fleet-b"));
        string json = log.Bundle(0).ToJson();
        Assert.AreEqual(json, ValidationBundle.Parse(json).ToJson(), "the bundle reads back to the same bytes");
        BundleVerdict verdict = new ValidationBundleVerifier(log.Trust()).Verify(json, fleet.ChannelPublicKey, null);
        var accepted = Assert.IsInstanceOfType<BundleAccepted>(verdict, verdict.Describe());
        Assert.AreEqual(1, accepted.Epoch);
        Assert.AreEqual(2, accepted.CheckpointSize);
        CollectionAssert.AreEqual(fleet.Digest, accepted.FleetKeys.Digest);
    }

    [TestMethod]
    public void Junk_and_unknown_members_are_malformed()
    {
        using var log = new TestLog();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        log.Append(1, fleet);
        var verifier = new ValidationBundleVerifier(log.Trust());
        Assert.IsInstanceOfType<BundleMalformed>(verifier.Verify("{", fleet.ChannelPublicKey, null));
        JsonObject extra = Node(log.Bundle(0));
        extra["note"] = "trust me";
        Assert.IsInstanceOfType<BundleMalformed>(verifier.Verify(extra.ToJsonString(), fleet.ChannelPublicKey, null));
        JsonObject badProof = Node(log.Bundle(0));
        badProof["tlog_proof"] = "c2sp.org/tlog-proof@v1\nindex x\n";
        Assert.IsInstanceOfType<BundleMalformed>(verifier.Verify(badProof.ToJsonString(), fleet.ChannelPublicKey, null));
    }

    [TestMethod]
    public void A_bundle_of_another_namespace_is_refused()
    {
        using var log = new TestLog("fleet-other");
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        log.Append(1, fleet);
        TransparencyTrust trust = new("fleet-mine", log.Witness.Verifier, log.OperatorPublicKey);
        var verdict = Assert.IsInstanceOfType<BundleWrongNamespace>(new ValidationBundleVerifier(trust).Verify(log.Bundle(0), fleet.ChannelPublicKey, null));
        Assert.AreEqual("fleet-other", verdict.Actual);
    }

    [TestMethod]
    public void A_fleet_key_file_swapped_for_another_is_a_digest_mismatch()
    {
        using var log = new TestLog();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        log.Append(1, fleet);
        FleetKeySet attacker = TestLog.NewFleet("fleet-a");
        JsonObject bundle = Node(log.Bundle(0));
        bundle["entry"]!["fleet_keys"] = JsonNode.Parse(attacker.ToCanonicalJson());
        BundleVerdict verdict = new ValidationBundleVerifier(log.Trust()).Verify(bundle.ToJsonString(), attacker.ChannelPublicKey, null);
        Assert.AreEqual(1, Assert.IsInstanceOfType<BundleDigestMismatch>(verdict, verdict.Describe()).Epoch);
    }

    [TestMethod]
    public void A_digest_changed_to_match_the_swapped_file_breaks_the_witness_signature()
    {
        using var log = new TestLog();
        log.Append(1, TestLog.NewFleet("fleet-a"));
        FleetKeySet attacker = TestLog.NewFleet("fleet-a");
        JsonObject bundle = Node(log.Bundle(0));
        bundle["entry"]!["fleet_keys"] = JsonNode.Parse(attacker.ToCanonicalJson());
        bundle["entry"]!["fleet_keys_digest"] = Convert.ToHexStringLower(attacker.Digest);
        Assert.IsInstanceOfType<BundleBadWitnessSignature>(new ValidationBundleVerifier(log.Trust()).Verify(bundle.ToJsonString(), attacker.ChannelPublicKey, null));
    }

    [TestMethod]
    public void A_statement_signed_by_another_witness_key_is_refused()
    {
        using var log = new TestLog();
        using var impostor = new TestLog();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        log.Append(1, fleet);
        TransparencyTrust pinnedImpostor = new(log.Namespace, impostor.Witness.Verifier, log.OperatorPublicKey);
        Assert.IsInstanceOfType<BundleBadWitnessSignature>(new ValidationBundleVerifier(pinnedImpostor).Verify(log.Bundle(0), fleet.ChannelPublicKey, null));
    }

    [TestMethod]
    public void A_missing_counter_signature_is_refused_as_missing()
    {
        using var log = new TestLog();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        log.Append(1, fleet, counterSign: false);
        var verdict = Assert.IsInstanceOfType<BundleBadCounterSignature>(new ValidationBundleVerifier(log.Trust()).Verify(log.Bundle(0), fleet.ChannelPublicKey, null));
        Assert.IsTrue(verdict.Missing);
        Assert.AreEqual("epoch 1: counter-signature: missing", verdict.Describe());
    }

    [TestMethod]
    public void A_counter_signature_by_another_key_is_refused()
    {
        using var log = new TestLog();
        using var other = new TestLog();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        WitnessLogEntry entry = log.Append(1, fleet, counterSign: false);
        log.ReplaceEntry(entry.WithCounterSignature(other.CounterSign(entry.WitnessSignature)));
        var verdict = Assert.IsInstanceOfType<BundleBadCounterSignature>(new ValidationBundleVerifier(log.Trust()).Verify(log.Bundle(0), fleet.ChannelPublicKey, null));
        Assert.IsFalse(verdict.Missing);
    }

    [TestMethod]
    public void A_checkpoint_not_signed_by_the_witness_or_of_another_log_is_refused()
    {
        using var log = new TestLog();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        log.Append(1, fleet);
        var verifier = new ValidationBundleVerifier(log.Trust());

        // Same name, another key: the key ID differs, so the witness's line is simply absent.
        using NoteSigningKey forger = NoteSigningKey.Generate(TestLog.WitnessName, NoteSignatureType.Ed25519);
        SignedNote forged = SignedNote.Sign(log.CheckpointAt(1).Text, forger);
        ValidationBundle bundle = log.Bundle(0);
        var withForged = new ValidationBundle(bundle.Entry, new TlogProof(0, bundle.Proof.InclusionProof, forged));
        Assert.IsInstanceOfType<BundleCheckpointNotSignedByWitness>(verifier.Verify(withForged, fleet.ChannelPublicKey, null));

        // The witness's key, another origin.
        SignedNote otherLog = SignedNote.Sign(new Checkpoint($"{TestLog.WitnessName}/another", 1, Checkpoint.Parse(log.CheckpointAt(1).Text).RootHash).ToText(), log.Witness);
        var withOtherLog = new ValidationBundle(bundle.Entry, new TlogProof(0, bundle.Proof.InclusionProof, otherLog));
        var verdict = Assert.IsInstanceOfType<BundleCheckpointNotSignedByWitness>(verifier.Verify(withOtherLog, fleet.ChannelPublicKey, null));
        StringAssert.Contains(verdict.Detail, "origin");

        // The witness's line altered.
        string text = log.CheckpointAt(1).ToString();
        int at = text.IndexOf("\u2014 ", StringComparison.Ordinal) + 30;
        string broken = text[..at] + (text[at] == 'A' ? 'B' : 'A') + text[(at + 1)..];
        var withBroken = new ValidationBundle(bundle.Entry, new TlogProof(0, bundle.Proof.InclusionProof, SignedNote.Parse(broken)));
        Assert.IsInstanceOfType<BundleCheckpointNotSignedByWitness>(verifier.Verify(withBroken, fleet.ChannelPublicKey, null));
    }

    [TestMethod]
    public void A_bad_inclusion_proof_is_refused()
    {
        using var log = new TestLog();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        log.Append(1, fleet);
        log.Append(2, TestLog.NewFleet("fleet-b"));
        log.Append(3, TestLog.NewFleet("fleet-c"));
        var verifier = new ValidationBundleVerifier(log.Trust());
        ValidationBundle good = log.Bundle(0);
        List<byte[]> flipped = [.. good.Proof.InclusionProof.Select(h => (byte[])h.Clone())];
        flipped[0][0] ^= 1;
        Assert.IsInstanceOfType<BundleBadInclusionProof>(verifier.Verify(new ValidationBundle(good.Entry, new TlogProof(0, flipped, good.Proof.Checkpoint)), fleet.ChannelPublicKey, null));
        Assert.IsInstanceOfType<BundleBadInclusionProof>(verifier.Verify(new ValidationBundle(good.Entry, new TlogProof(1, log.InclusionProof(1, 3), good.Proof.Checkpoint)), fleet.ChannelPublicKey, null), "another entry's proof");
        Assert.IsInstanceOfType<BundleBadInclusionProof>(verifier.Verify(new ValidationBundle(good.Entry, new TlogProof(0, good.Proof.InclusionProof.Take(1).ToList(), good.Proof.Checkpoint)), fleet.ChannelPublicKey, null), "a cut proof");
    }

    [TestMethod]
    public void An_epoch_older_than_the_newest_seen_is_rolled_back_and_the_same_epoch_with_another_file_conflicts()
    {
        using var log = new TestLog();
        FleetKeySet a = TestLog.NewFleet("fleet-a");
        log.Append(3, a);
        var verifier = new ValidationBundleVerifier(log.Trust());
        var seen = new NewestEpoch(4, new byte[32], 5, new byte[32]);
        var rolledBack = Assert.IsInstanceOfType<BundleEpochRolledBack>(verifier.Verify(log.Bundle(0), a.ChannelPublicKey, seen));
        Assert.AreEqual(4, rolledBack.NewestSeen);
        Assert.AreEqual("epoch 3: rolled back: this client already accepted epoch 4", rolledBack.Describe());
        Assert.IsInstanceOfType<BundleEpochConflict>(verifier.Verify(log.Bundle(0), a.ChannelPublicKey, seen with { Epoch = 3 }));
        Assert.IsInstanceOfType<BundleAccepted>(verifier.Verify(log.Bundle(0), a.ChannelPublicKey, seen with { Epoch = 3, FleetKeysDigest = a.Digest }), "the same epoch and file again is fine");
    }

    [TestMethod]
    public void A_channel_key_that_is_not_the_files_is_refused()
    {
        using var log = new TestLog();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        log.Append(1, fleet);
        Assert.IsInstanceOfType<BundleChannelKeyMismatch>(new ValidationBundleVerifier(log.Trust()).Verify(log.Bundle(0), TestLog.NewFleet("other").ChannelPublicKey, null));
    }

    [TestMethod]
    public void K_of_n_cosigners_are_required_when_pinned()
    {
        using var log = new TestLog(cosigners: 3);
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        log.Append(1, fleet);
        ValidationBundle bundle = log.Bundle(0);
        var accepted = Assert.IsInstanceOfType<BundleAccepted>(new ValidationBundleVerifier(log.Trust(quorum: 3)).Verify(bundle, fleet.ChannelPublicKey, null));
        Assert.AreEqual(3, accepted.Cosigners.Count);

        // Only the first cosigner's line kept: 1 of 3 meets k = 1, not k = 2.
        SignedNote note = bundle.Proof.Checkpoint;
        SignedNote oneCosigner = SignedNote.Create(note.Text, note.Signatures.Where(s => s.Name == TestLog.WitnessName || s.Name == log.Cosigners[0].Name));
        var partial = new ValidationBundle(bundle.Entry, new TlogProof(0, bundle.Proof.InclusionProof, oneCosigner));
        Assert.IsInstanceOfType<BundleAccepted>(new ValidationBundleVerifier(log.Trust(quorum: 1)).Verify(partial, fleet.ChannelPublicKey, null));
        var insufficient = Assert.IsInstanceOfType<BundleCosignaturesInsufficient>(new ValidationBundleVerifier(log.Trust(quorum: 2)).Verify(partial, fleet.ChannelPublicKey, null));
        Assert.AreEqual(1, insufficient.Valid.Count);

        // A pinned cosigner's line that does not verify fails the checkpoint even when k is met otherwise.
        NoteSignature line = note.Signatures.First(s => s.Name == log.Cosigners[1].Name);
        byte[] bytes = line.Signature;
        bytes[^1] ^= 1;
        SignedNote badLine = note.WithSignatures([new NoteSignature(line.Name, line.KeyId, bytes)]);
        Assert.IsInstanceOfType<BundleCosignaturesInsufficient>(new ValidationBundleVerifier(log.Trust(quorum: 1)).Verify(new ValidationBundle(bundle.Entry, new TlogProof(0, bundle.Proof.InclusionProof, badLine)), fleet.ChannelPublicKey, null));
    }

    [TestMethod]
    public void A_client_moves_from_fleet_A_to_fleet_B_by_a_new_bundle_and_keeps_the_epoch_across_runs()
    {
        using var log = new TestLog();
        FleetKeySet a = TestLog.NewFleet("fleet-a");
        FleetKeySet b = TestLog.NewFleet("fleet-b");
        log.Append(1, a);
        string bundleA = log.Bundle(0).ToJson();
        string state = Path.Combine(Path.GetTempPath(), $"hsmvault-epochs-{Guid.NewGuid():N}.json");
        try
        {
            var client = new OverTheAirFleet(log.Trust(), NewestEpochFile.Open(state));
            Assert.IsNull(client.Current);
            Assert.IsInstanceOfType<BundleAccepted>(client.Accept(bundleA, a.ChannelPublicKey));
            Assert.AreEqual("fleet-a", client.Current!.FleetId);

            log.Append(2, b);
            Assert.IsInstanceOfType<BundleAccepted>(client.Accept(log.Bundle(1).ToJson(), b.ChannelPublicKey));
            Assert.AreEqual("fleet-b", client.Current!.FleetId);
            Assert.AreEqual(2, client.CurrentEpoch);
            Assert.IsInstanceOfType<BundleEpochRolledBack>(client.Accept(bundleA, a.ChannelPublicKey), "fleet A's old bundle, replayed");
            Assert.AreEqual("fleet-b", client.Current!.FleetId);

            // A new run of the client, pinned to A again by an old build, reads the state file.
            var restarted = new OverTheAirFleet(log.Trust(), NewestEpochFile.Open(state), pinned: a);
            Assert.AreEqual(2, restarted.NewestSeen!.Epoch);
            Assert.IsInstanceOfType<BundleEpochRolledBack>(restarted.Accept(bundleA, a.ChannelPublicKey));
            Assert.IsInstanceOfType<BundleAccepted>(restarted.Accept(log.Bundle(1), b.ChannelPublicKey));
            Assert.AreEqual("fleet-b", restarted.Current!.FleetId);
        }
        finally
        {
            File.Delete(state);
        }
    }

    [TestMethod]
    public void A_client_refuses_a_bundle_for_a_fleet_that_is_not_in_the_log()
    {
        using var log = new TestLog();
        FleetKeySet a = TestLog.NewFleet("fleet-a");
        log.Append(1, a);
        log.Append(2, TestLog.NewFleet("fleet-b"));
        var client = new OverTheAirFleet(log.Trust(), NewestEpochFile.InMemory(), pinned: a);

        // Signed by the witness and counter-signed by the operator, but never appended: no inclusion proof can exist.
        FleetKeySet c = TestLog.NewFleet("fleet-c");
        WitnessLogEntry unlogged = log.SignOutsideTheLog(3, c, claimedIndex: 1);
        var bundle = new ValidationBundle(unlogged, new TlogProof(1, log.InclusionProof(1, 2), log.CheckpointAt(2)));
        Assert.IsInstanceOfType<BundleBadInclusionProof>(client.Accept(bundle, c.ChannelPublicKey));

        // Or made up outright: no witness signature.
        JsonObject forged = Node(log.Bundle(1));
        forged["entry"]!["fleet_keys"] = JsonNode.Parse(c.ToCanonicalJson());
        forged["entry"]!["fleet_keys_digest"] = Convert.ToHexStringLower(c.Digest);
        forged["entry"]!["epoch"] = 9;
        Assert.IsInstanceOfType<BundleBadWitnessSignature>(client.Accept(forged.ToJsonString(), c.ChannelPublicKey));
        Assert.AreEqual("fleet-a", client.Current!.FleetId, "the pinned fleet stays");
        Assert.IsNull(client.NewestSeen);
    }

    [TestMethod]
    public void The_state_file_only_moves_forward_and_refuses_damage()
    {
        string state = Path.Combine(Path.GetTempPath(), $"hsmvault-epochs-{Guid.NewGuid():N}.json");
        try
        {
            NewestEpochFile file = NewestEpochFile.Open(state);
            file.Record("ns", new NewestEpoch(5, new byte[32], 5, new byte[32]));
            file.Record("ns", new NewestEpoch(3, Enumerable.Repeat((byte)1, 32).ToArray(), 9, Enumerable.Repeat((byte)2, 32).ToArray()));
            NewestEpoch kept = NewestEpochFile.Open(state).Get("ns")!;
            Assert.AreEqual(5, kept.Epoch);
            Assert.AreEqual(9, kept.CheckpointSize);
            File.WriteAllText(state, "{\"format\": \"hsmvault-newest-epochs/v1\", \"namespaces\": {\"ns\": {\"epoch\": 0}}}");
            Assert.ThrowsExactly<TransparencyFormatException>(() => NewestEpochFile.Open(state));
        }
        finally
        {
            File.Delete(state);
        }
    }

    [TestMethod]
    public void The_trust_file_round_trips_and_refuses_a_quorum_above_the_cosigners()
    {
        using var log = new TestLog(cosigners: 2);
        TransparencyTrust trust = log.Trust(quorum: 2);
        TransparencyTrust read = TransparencyTrust.Parse(trust.ToJson());
        Assert.AreEqual(trust.ToJson(), read.ToJson());
        Assert.AreEqual($"{TestLog.WitnessName}/fleet-test", read.Origin);
        JsonObject node = JsonNode.Parse(trust.ToJson())!.AsObject();
        node["cosigner_quorum"] = 3;
        Assert.ThrowsExactly<TransparencyFormatException>(() => TransparencyTrust.Parse(node.ToJsonString()));
    }

    private static JsonObject Node(ValidationBundle bundle) => JsonNode.Parse(bundle.ToJson())!.AsObject();
}
