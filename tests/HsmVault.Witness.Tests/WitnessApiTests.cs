using System.Net;
using System.Text.Json;
using HsmVault.Client.Transparency;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Merkle;
using HsmVault.Transparency.Notes;
using HsmVault.Transparency.Tests;
using Microsoft.Data.Sqlite;

namespace HsmVault.Witness.Tests;

[TestClass]
public sealed class WitnessApiTests
{
    private const string Ns = "fleet-test";

    [TestMethod]
    public async Task An_appended_epoch_is_signed_logged_and_proven_over_HTTP()
    {
        await using TestWitness witness = await TestWitness.StartAsync();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        WitnessLogEntry entry = await witness.PublishAsync(Ns, 1, fleet);
        Assert.AreEqual(0, entry.Index);
        Assert.IsTrue(witness.Server.Log.VerifierKey.Verify(entry.Statement.ToBytes(), entry.WitnessSignature));
        await witness.PublishAsync(Ns, 2, TestLog.NewFleet("fleet-b"));

        SignedNote note = SignedNote.Parse(await witness.GetAsync(LogPaths.Checkpoint(Ns)));
        note.Verify([witness.Server.Log.VerifierKey]);
        Checkpoint checkpoint = Checkpoint.Parse(note.Text);
        Assert.AreEqual($"{WitnessOptions.DefaultName}/{Ns}", checkpoint.Origin);
        Assert.AreEqual(2, checkpoint.Size);

        IReadOnlyList<byte[]> inclusion = LogPaths.ParseProof(await witness.GetAsync(LogPaths.InclusionProof(Ns, 0, 2)), "inclusion");
        Assert.IsTrue(Rfc6962.VerifyInclusion(0, 2, entry.Statement.LeafHash(), inclusion, checkpoint.RootHash));
        Checkpoint first = Checkpoint.Parse(SignedNote.Parse(await witness.GetAsync(LogPaths.CheckpointAt(Ns, 1))).Text);
        IReadOnlyList<byte[]> consistency = LogPaths.ParseProof(await witness.GetAsync(LogPaths.ConsistencyProof(Ns, 1, 2)), "consistency");
        Assert.IsTrue(Rfc6962.VerifyConsistency(1, 2, consistency, first.RootHash, checkpoint.RootHash));

        WitnessLogEntry served = WitnessLogEntry.Parse(await witness.GetAsync(LogPaths.EntryOfEpoch(Ns, 1)));
        Assert.AreEqual(entry.ToJson(), served.ToJson());
        using JsonDocument about = JsonDocument.Parse(await witness.GetAsync("v1/witness"));
        Assert.AreEqual(witness.Server.Log.VerifierKey.ToString(), about.RootElement.GetProperty("vkey").GetString());
    }

    [TestMethod]
    public async Task An_epoch_that_does_not_increase_is_refused_and_the_log_is_unchanged()
    {
        await using TestWitness witness = await TestWitness.StartAsync();
        await witness.PublishAsync(Ns, 5, TestLog.NewFleet("fleet-a"));
        foreach (long epoch in new long[] { 5, 4, 1 })
        {
            (HttpStatusCode status, string body) = await witness.PostAppendAsync(Ns, epoch, TestLog.NewFleet("fleet-x"));
            Assert.AreEqual(HttpStatusCode.Conflict, status, $"epoch {epoch}: {body}");
            StringAssert.Contains(body, "the newest epoch of fleet-test is 5");
        }

        Assert.AreEqual(1, Checkpoint.Parse(SignedNote.Parse(await witness.GetAsync(LogPaths.Checkpoint(Ns))).Text).Size);
        (HttpStatusCode next, _) = await witness.PostAppendAsync(Ns, 6, TestLog.NewFleet("fleet-b"));
        Assert.AreEqual(HttpStatusCode.Created, next);
    }

    [TestMethod]
    public async Task The_newest_statement_appended_again_is_answered_with_the_same_entry()
    {
        await using TestWitness witness = await TestWitness.StartAsync();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        WitnessLogEntry entry = await witness.PublishAsync(Ns, 1, fleet, counterSign: false);
        (HttpStatusCode status, string body) = await witness.PostAppendAsync(Ns, 1, fleet);
        Assert.AreEqual(HttpStatusCode.OK, status, body);
        using JsonDocument answer = JsonDocument.Parse(body);
        Assert.IsTrue(answer.RootElement.GetProperty("already_present").GetBoolean());
        Assert.AreEqual(entry.Index, answer.RootElement.GetProperty("entry").GetProperty("index").GetInt64());
    }

    [TestMethod]
    public async Task An_append_not_signed_by_the_operator_is_refused()
    {
        await using TestWitness witness = await TestWitness.StartAsync();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        using var stranger = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        byte[] signedByStranger = stranger.SignData(OperatorKey.AppendRequestMessage(new EpochStatement(Ns, 1, fleet.Digest)), System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        Assert.AreEqual(HttpStatusCode.Forbidden, (await witness.PostAppendAsync(Ns, 1, fleet, signedByStranger)).Status);
        Assert.AreEqual(HttpStatusCode.Forbidden, (await witness.PostAppendAsync(Ns, 2, fleet, witness.SignAppend(Ns, 1, fleet))).Status, "authorisation of another epoch");
        Assert.AreEqual(HttpStatusCode.NotFound, (await witness.Http.GetAsync(LogPaths.Checkpoint(Ns))).StatusCode, "nothing was logged");
        using var badNamespace = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
        Assert.AreEqual(HttpStatusCode.BadRequest, (await witness.Http.PostAsync("v1/log/Bad.NS/append", badNamespace)).StatusCode);
    }

    [TestMethod]
    public async Task Only_a_valid_counter_signature_is_kept_and_the_first_valid_one_stays()
    {
        await using TestWitness witness = await TestWitness.StartAsync();
        WitnessLogEntry entry = await witness.PublishAsync(Ns, 1, TestLog.NewFleet("fleet-a"), counterSign: false);
        using var stranger = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        byte[] wrong = stranger.SignData(OperatorKey.CounterSignatureMessage(entry.WitnessSignature), System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        Assert.AreEqual(HttpStatusCode.Forbidden, (await witness.PostCounterSignatureAsync(Ns, 0, wrong)).Status);
        Assert.AreEqual(HttpStatusCode.NotFound, (await witness.PostCounterSignatureAsync(Ns, 7, wrong)).Status);
        Assert.IsNull(WitnessLogEntry.Parse(await witness.GetAsync(LogPaths.Entry(Ns, 0))).CounterSignature);

        byte[] first = witness.CounterSign(entry.WitnessSignature);
        Assert.AreEqual(HttpStatusCode.OK, (await witness.PostCounterSignatureAsync(Ns, 0, first)).Status);
        (HttpStatusCode again, string body) = await witness.PostCounterSignatureAsync(Ns, 0, witness.CounterSign(entry.WitnessSignature));
        Assert.AreEqual(HttpStatusCode.OK, again);
        CollectionAssert.AreEqual(first, WitnessLogEntry.Parse(body).CounterSignature);
    }

    [TestMethod]
    public async Task Bundles_from_the_witness_move_a_client_from_fleet_A_to_fleet_B()
    {
        await using TestWitness witness = await TestWitness.StartAsync();
        FleetKeySet a = TestLog.NewFleet("fleet-a");
        FleetKeySet b = TestLog.NewFleet("fleet-b");
        await witness.PublishAsync(Ns, 1, a);
        var client = new OverTheAirFleet(witness.Trust(Ns), NewestEpochFile.InMemory());
        Assert.IsInstanceOfType<BundleAccepted>(client.Accept(await witness.GetAsync(LogPaths.Bundle(Ns)), a.ChannelPublicKey));
        await witness.PublishAsync(Ns, 2, b);
        Assert.IsInstanceOfType<BundleAccepted>(client.Accept(await witness.GetAsync(LogPaths.Bundle(Ns)), b.ChannelPublicKey));
        Assert.AreEqual("fleet-b", client.Current!.FleetId);
        BundleVerdict replay = client.Accept(await witness.GetAsync(LogPaths.BundleOfEpoch(Ns, 1)), a.ChannelPublicKey);
        Assert.IsInstanceOfType<BundleEpochRolledBack>(replay, replay.Describe());

        await witness.PublishAsync(Ns, 3, TestLog.NewFleet("fleet-c"), counterSign: false);
        BundleVerdict unsigned = client.Accept(await witness.GetAsync(LogPaths.Bundle(Ns)), b.ChannelPublicKey);
        Assert.IsInstanceOfType<BundleBadCounterSignature>(unsigned, "an epoch the operator has not counter-signed yet");
        Assert.AreEqual("fleet-b", client.Current!.FleetId);
    }

    [TestMethod]
    public async Task A_restarted_witness_serves_the_same_log_and_keeps_its_key_private()
    {
        string state = Directory.CreateTempSubdirectory("hsmvault-witness-").FullName;
        try
        {
            using var operatorKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            string checkpoint;
            string vkey;
            await using (TestWitness first = await TestWitness.StartAsync(state, operatorKey))
            {
                await first.PublishAsync(Ns, 1, TestLog.NewFleet("fleet-a"));
                await first.PublishAsync(Ns, 2, TestLog.NewFleet("fleet-b"));
                checkpoint = await first.GetAsync(LogPaths.Checkpoint(Ns));
                vkey = first.Server.Log.VerifierKey.ToString();
            }

            if (!OperatingSystem.IsWindows())
            {
                Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(state, "witness.key")));
            }

            Assert.AreEqual(vkey + "\n", File.ReadAllText(Path.Combine(state, "witness.vkey")));
            await using TestWitness second = await TestWitness.StartAsync(state, operatorKey);
            Assert.AreEqual(vkey, second.Server.Log.VerifierKey.ToString());
            Assert.AreEqual(checkpoint, await second.GetAsync(LogPaths.Checkpoint(Ns)));
            Assert.AreEqual(HttpStatusCode.Conflict, (await second.PostAppendAsync(Ns, 2, TestLog.NewFleet("fleet-x"))).Status, "the newest epoch survived the restart");
            await second.PublishAsync(Ns, 3, TestLog.NewFleet("fleet-c"));
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [TestMethod]
    public async Task A_store_altered_behind_the_witness_stops_it_from_starting()
    {
        string state = Directory.CreateTempSubdirectory("hsmvault-witness-").FullName;
        try
        {
            using var operatorKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            await using (TestWitness witness = await TestWitness.StartAsync(state, operatorKey))
            {
                await witness.PublishAsync(Ns, 1, TestLog.NewFleet("fleet-a"));
                await witness.PublishAsync(Ns, 2, TestLog.NewFleet("fleet-b"));
            }

            using (var connection = new SqliteConnection($"Data Source={Path.Combine(state, "witness.db")};Pooling=False"))
            {
                connection.Open();
                using SqliteCommand command = connection.CreateCommand();
                command.CommandText = "UPDATE entries SET epoch = 9 WHERE idx = 0;";
                Assert.AreEqual(1, command.ExecuteNonQuery());
            }

            var error = await Assert.ThrowsExactlyAsync<WitnessStoreException>(() => TestWitness.StartAsync(state, operatorKey));
            StringAssert.Contains(error.Message, "entry 0");

            using var otherOperator = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
            var moved = await Assert.ThrowsExactlyAsync<WitnessStoreException>(() => TestWitness.StartAsync(state, otherOperator));
            StringAssert.Contains(moved.Message, "operator key");
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}
