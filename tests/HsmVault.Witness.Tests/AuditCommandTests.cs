using System.Net;
using System.Text.Json.Nodes;
using HsmVault.Cli;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;
using HsmVault.Transparency.Tests;

namespace HsmVault.Witness.Tests;

/// <summary>
/// <c>hsmvault audit --log</c> run in-process on a witness's URL and on exported evidence folders:
/// good evidence passes and prints the table of key changes; a tampered file, a forked log, a
/// missing counter-signature and a rolled-back epoch each fail naming the epoch and the check.
/// </summary>
[TestClass]
public sealed class AuditCommandTests
{
    private const string Ns = "fleet-test";

    [TestMethod]
    public async Task A_good_log_passes_by_URL_and_by_folder_and_the_table_shows_how_the_keys_changed()
    {
        await using Published log = await Published.StartAsync(epochs: 5);
        Run byUrl = await AuditAsync(log, log.Witness.Address.AbsoluteUri);
        Assert.AreEqual(CliExitCode.Success, byUrl.Code, byUrl.Error);
        string[] rows = byUrl.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(6, rows.Length, byUrl.Out);
        StringAssert.StartsWith(rows[0], "EPOCH  ENTRY  FLEET");
        StringAssert.Contains(rows[0], "CHANNEL");
        StringAssert.Contains(rows[0], "OPAQUE-AKE");
        StringAssert.Contains(rows[1], "first in window");
        StringAssert.Contains(rows[2], "channel key changed");
        StringAssert.Contains(rows[3], "fleet id fleet-a \u2192 fleet-b; channel key changed; opaque-ake key changed");
        StringAssert.Contains(rows[4], "no change");
        StringAssert.Contains(byUrl.Error, "audit: [5/5] epoch 50 (entry 4): ok");
        StringAssert.Contains(byUrl.Error, "audit passed: 5 epochs (10 to 50)");

        string folder = await log.ExportAsync();
        Run byFolder = await AuditAsync(log, folder);
        Assert.AreEqual(CliExitCode.Success, byFolder.Code, byFolder.Error);
        Assert.AreEqual(byUrl.Out, byFolder.Out, "the same table from the same log");
    }

    [TestMethod]
    public async Task A_window_of_epochs_audits_only_the_newest_and_compares_its_first_with_the_epoch_before()
    {
        await using Published log = await Published.StartAsync(epochs: 5);
        Run run = await AuditAsync(log, await log.ExportAsync(epochs: 2), "--epochs", "2");
        Assert.AreEqual(CliExitCode.Success, run.Code, run.Error);
        string[] rows = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.AreEqual(3, rows.Length);
        StringAssert.StartsWith(rows[1], "40 ");
        StringAssert.Contains(rows[1], "no change");
    }

    [TestMethod]
    public async Task A_tampered_fleet_key_file_fails_naming_its_epoch_and_the_digest_check()
    {
        await using Published log = await Published.StartAsync(epochs: 5);
        string folder = await log.ExportAsync();
        string path = Path.Combine(folder, LogPaths.Entry(Ns, 2));
        JsonObject entry = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        entry["fleet_keys"] = JsonNode.Parse(TestLog.NewFleet("fleet-b").ToCanonicalJson());
        File.WriteAllText(path, entry.ToJsonString());
        Run run = await AuditAsync(log, folder);
        Assert.AreEqual(CliExitCode.AuditFailed, run.Code, run.Error);
        StringAssert.Contains(run.Error, "hsmvault: audit failed: epoch 30 (entry 2): fleet-key digest: tampered");
        StringAssert.Contains(run.Error, "audit: [3/5] epoch 30 (entry 2): FAILED");
        StringAssert.Contains(run.Error, "audit FAILED: 1 failed check(s)");
    }

    [TestMethod]
    public async Task A_forked_checkpoint_fails_naming_its_epoch_and_the_consistency_check()
    {
        await using Published log = await Published.StartAsync(epochs: 5);
        string folder = await log.ExportAsync();

        // The witness's own key signs a checkpoint of size 3 over another tree: the view a forked log shows someone.
        using NoteSigningKey key = NoteSigningKey.Parse(File.ReadAllText(Path.Combine(log.Witness.State, "witness.key")).Trim());
        Checkpoint honest = Checkpoint.Parse(SignedNote.Parse(File.ReadAllText(Path.Combine(folder, LogPaths.CheckpointAt(Ns, 3)))).Text);
        byte[] otherRoot = honest.RootHash;
        otherRoot[0] ^= 1;
        File.WriteAllText(Path.Combine(folder, LogPaths.CheckpointAt(Ns, 3)), SignedNote.Sign(new Checkpoint(honest.Origin, 3, otherRoot).ToText(), key).ToString());
        Run run = await AuditAsync(log, folder);
        Assert.AreEqual(CliExitCode.AuditFailed, run.Code, run.Error);
        StringAssert.Contains(run.Error, "epoch 30 (entry 2): consistency: forked: the checkpoint of size 3 is not consistent with the checkpoint of size 2");
        StringAssert.Contains(run.Error, "epoch 40 (entry 3): consistency: forked: the checkpoint of size 4 is not consistent with the checkpoint of size 3");
    }

    [TestMethod]
    public async Task A_whole_forked_log_fails_inclusion_and_consistency()
    {
        await using Published log = await Published.StartAsync(epochs: 3);
        string folder = await log.ExportAsync();

        // Another log under the same witness key and namespace, differing from entry 1 on.
        using var fork = new TestLog(Ns);
        using NoteSigningKey key = NoteSigningKey.Parse(File.ReadAllText(Path.Combine(log.Witness.State, "witness.key")).Trim());
        SignedNote forkedLatest = SignedNote.Sign(new Checkpoint(FleetNamespace.Origin(WitnessOptions.DefaultName, Ns), 3, System.Security.Cryptography.SHA256.HashData("another tree"u8)).ToText(), key);
        File.WriteAllText(Path.Combine(folder, LogPaths.Checkpoint(Ns)), forkedLatest.ToString());
        Run run = await AuditAsync(log, folder);
        Assert.AreEqual(CliExitCode.AuditFailed, run.Code, run.Error);
        StringAssert.Contains(run.Error, "epoch 10 (entry 0): inclusion: the statement is not proven at entry 0 of the latest checkpoint (3 entries)");
        StringAssert.Contains(run.Error, "consistency: forked: the checkpoint signed at size 3 has another root than the latest checkpoint");
    }

    [TestMethod]
    public async Task A_missing_counter_signature_fails_naming_its_epoch()
    {
        await using Published log = await Published.StartAsync(epochs: 5, unsigned: 40);
        Run run = await AuditAsync(log, log.Witness.Address.AbsoluteUri);
        Assert.AreEqual(CliExitCode.AuditFailed, run.Code, run.Error);
        StringAssert.Contains(run.Error, "hsmvault: audit failed: epoch 40 (entry 3): counter-signature: missing");
        StringAssert.Contains(run.Out, "FAILED", "the epoch's row says so");
    }

    [TestMethod]
    public async Task A_rolled_back_epoch_fails_naming_it_and_the_epoch_order()
    {
        // An honest witness refuses this; a dishonest one could sign it, every signature valid.
        using var log = new TestLog(Ns);
        FleetKeySet a = TestLog.NewFleet("fleet-a");
        foreach (long epoch in new long[] { 1, 2, 7, 5, 8 })
        {
            log.Append(epoch, a);
        }

        string folder = Directory.CreateTempSubdirectory("hsmvault-evidence-").FullName;
        try
        {
            LogEvidence.WriteFolder(log, 50, folder);
            Run run = await CliAsync(["audit", "--log", folder, "--namespace", Ns, "--witness-key", log.Witness.Verifier.ToString(), "--operator-key", log.OperatorPublicKey.ToString()]);
            Assert.AreEqual(CliExitCode.AuditFailed, run.Code, run.Error);
            StringAssert.Contains(run.Error, "hsmvault: audit failed: epoch 5 (entry 3): epoch order: rolled back: epoch 5 follows epoch 7");
            Assert.AreEqual(1, run.Error.Split('\n').Count(line => line.StartsWith("hsmvault: audit failed:", StringComparison.Ordinal)), run.Error);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public async Task With_a_state_file_a_log_that_shrinks_or_forks_after_a_passing_audit_fails()
    {
        await using Published log = await Published.StartAsync(epochs: 3);
        string older = await log.ExportAsync();
        await log.Witness.PublishAsync(Ns, 40, TestLog.NewFleet("fleet-b"));
        string state = Path.Combine(log.Scratch, "audit-state.json");
        Run first = await AuditAsync(log, log.Witness.Address.AbsoluteUri, "--state", state);
        Assert.AreEqual(CliExitCode.Success, first.Code, first.Error);
        StringAssert.Contains(File.ReadAllText(state), "\"checkpoint_size\": 4");

        await log.Witness.PublishAsync(Ns, 50, TestLog.NewFleet("fleet-c"));
        Assert.AreEqual(CliExitCode.Success, (await AuditAsync(log, log.Witness.Address.AbsoluteUri, "--state", state)).Code, "a grown log is consistent with the earlier one");

        Run shrunk = await AuditAsync(log, older, "--state", state);
        Assert.AreEqual(CliExitCode.AuditFailed, shrunk.Code, shrunk.Error);
        StringAssert.Contains(shrunk.Error, "consistency: rolled back: an earlier audit saw 5 entries, the latest checkpoint has 3");
        StringAssert.Contains(shrunk.Error, "epoch order: rolled back: an earlier audit saw epoch 50, the log's newest is 30");
    }

    [TestMethod]
    public async Task The_wrong_pinned_witness_key_an_unreachable_log_and_bad_options_are_reported()
    {
        await using Published log = await Published.StartAsync(epochs: 1);
        using NoteSigningKey stranger = NoteSigningKey.Generate(WitnessOptions.DefaultName, NoteSignatureType.Ed25519);
        Run wrongKey = await CliAsync(["audit", "--log", log.Witness.Address.AbsoluteUri, "--namespace", Ns, "--witness-key", stranger.Verifier.ToString(), "--operator-key", log.Witness.OperatorPublicKey.ToString()]);
        Assert.AreEqual(CliExitCode.AuditFailed, wrongKey.Code);
        StringAssert.Contains(wrongKey.Error, "checkpoint: the latest checkpoint: not signed by the pinned witness");

        Run unreachable = await CliAsync(["audit", "--log", "http://127.0.0.1:1/", "--namespace", Ns, "--witness-key", log.Vkey, "--operator-key", log.Witness.OperatorPublicKey.ToString()]);
        Assert.AreEqual(CliExitCode.Unavailable, unreachable.Code, unreachable.Error);
        StringAssert.Contains(unreachable.Error, "the log cannot be read");

        Run missing = await CliAsync(["audit", "--log", log.Witness.Address.AbsoluteUri, "--namespace", Ns, "--operator-key", log.Witness.OperatorPublicKey.ToString()]);
        Assert.AreEqual(CliExitCode.UsageOrInput, missing.Code);
        StringAssert.Contains(missing.Error, "--witness-key: required");
        Run badQuorum = await CliAsync(["audit", "--log", log.Witness.Address.AbsoluteUri, "--namespace", Ns, "--witness-key", log.Vkey, "--operator-key", log.Witness.OperatorPublicKey.ToString(), "--quorum", "1"]);
        Assert.AreEqual(CliExitCode.UsageOrInput, badQuorum.Code);
        StringAssert.Contains(badQuorum.Error, "--quorum: 1, must be 0 to the number of --cosigner keys (0)");
        string vkeyFile = Path.Combine(log.Scratch, "witness.vkey");
        File.WriteAllText(vkeyFile, log.Vkey + "\n");
        Assert.AreEqual(CliExitCode.Success, (await CliAsync(["audit", "--log", log.Witness.Address.AbsoluteUri, "--namespace", Ns, "--witness-key", vkeyFile, "--operator-key", log.Witness.OperatorPublicKey.ToString()])).Code, "a key given as its file");
    }

    private static Task<Run> AuditAsync(Published log, string source, params string[] more) =>
        CliAsync(["audit", "--log", source, "--namespace", Ns, "--witness-key", log.Vkey, "--operator-key", log.Witness.OperatorPublicKey.ToString(), .. more]);

    private static async Task<Run> CliAsync(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = new CliConsole(new StringReader(string.Empty), output, error, false, () => null, _ => null);
        int code = await HsmVaultCli.RunAsync(args, console);
        return new Run(code, output.ToString(), error.ToString());
    }

    private sealed record Run(int Code, string Out, string Error);

    /// <summary>
    /// An honest witness with epochs 10, 20, ... : fleet-a, fleet-a with a new channel key, fleet-b,
    /// fleet-b unchanged, then fresh fleets. <paramref name="unsigned"/> names an epoch left without
    /// counter-signature.
    /// </summary>
    private sealed class Published : IAsyncDisposable
    {
        private Published(TestWitness witness, string scratch)
        {
            Witness = witness;
            Scratch = scratch;
        }

        public TestWitness Witness { get; }

        public string Scratch { get; }

        public string Vkey => Witness.Server.Log.VerifierKey.ToString();

        public static async Task<Published> StartAsync(int epochs, long unsigned = 0)
        {
            TestWitness witness = await TestWitness.StartAsync();
            FleetKeySet a = TestLog.NewFleet("fleet-a");
            FleetKeySet rotated = FleetKeySet.Create("fleet-a", TestLog.NewFleet("x").ChannelPublicKey, a.OpaqueAkePublicKey);
            FleetKeySet b = TestLog.NewFleet("fleet-b");
            FleetKeySet[] fleets = [a, rotated, b, b, TestLog.NewFleet("fleet-c")];
            for (int i = 0; i < epochs; i++)
            {
                long epoch = (i + 1) * 10;
                await witness.PublishAsync(Ns, epoch, i < fleets.Length ? fleets[i] : TestLog.NewFleet($"fleet-{i}"), counterSign: epoch != unsigned);
            }

            return new Published(witness, Directory.CreateTempSubdirectory("hsmvault-audit-").FullName);
        }

        /// <summary>Writes an evidence folder with hsmvault-witness export, from a stopped copy of the witness's state.</summary>
        public async Task<string> ExportAsync(int epochs = 50)
        {
            string copy = Path.Combine(Scratch, $"state-{Guid.NewGuid():N}");
            Directory.CreateDirectory(copy);
            foreach (string file in Directory.GetFiles(Witness.State))
            {
                File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            }

            string folder = Path.Combine(Scratch, $"evidence-{Guid.NewGuid():N}");
            var output = new StringWriter();
            var error = new StringWriter();
            int code = await WitnessCommandLine.RunAsync(["--state", copy, "export", "--namespace", Ns, "--epochs", epochs.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", folder], output, error, CancellationToken.None);
            Assert.AreEqual(0, code, error.ToString());
            StringAssert.Contains(output.ToString(), "wrote");
            return folder;
        }

        public async ValueTask DisposeAsync()
        {
            await Witness.DisposeAsync();
            Directory.Delete(Scratch, recursive: true);
        }
    }
}
