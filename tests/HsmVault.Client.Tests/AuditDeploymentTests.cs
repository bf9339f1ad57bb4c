using System.Security.Cryptography;
using System.Text;
using HsmVault.Cli;
using HsmVault.Cli.Audit;
using HsmVault.Protocol.Deployment;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Client.Tests;

/// <summary>
/// <c>hsmvault audit --deployment</c> over evidence made here with software keys in place of the HSMs'
/// identity keys (the audit checks what the files say, not who held the keys; the ceremony's own evidence
/// is audited in the simulator tests): the good evidence passes, and each kind of tampering fails exactly
/// the check it should, named, with exit code <see cref="DeploymentAudit.ChecksFailed"/>.
/// </summary>
[TestClass]
public sealed class AuditDeploymentTests
{
    private const int Hsms = 3;

    [TestMethod]
    public async Task Good_evidence_passes_every_check()
    {
        using var evidence = new Evidence();
        CliRun run = await evidence.AuditAsync();
        Assert.AreEqual(CliExitCode.Success, run.ExitCode, run.Out + run.Error);
        Assert.Contains($"deployment verified: all {Hsms + 5} checks passed", run.Out);
        foreach (string check in new[] { "manifest", "signature hsm-0", "signature hsm-1", "signature hsm-2", "signatures", "fleet-key digest", "policy", "code hash" })
        {
            Assert.Contains($"ok      {check}: ", run.Out);
        }

        Assert.Contains("audit: verifying 3 HSM signatures on the manifest ...", run.Error, "progress on stderr");
        Assert.DoesNotContain("FAILED", run.Out);
    }

    [TestMethod]
    public async Task A_changed_manifest_byte_fails_every_signature()
    {
        using var evidence = new Evidence();
        byte[] bytes = File.ReadAllBytes(evidence.ManifestPath);
        int at = Encoding.ASCII.GetString(bytes).IndexOf("\"attempt_limit\":10", StringComparison.Ordinal) + "\"attempt_limit\":".Length;
        bytes[at] = (byte)'9';
        File.WriteAllBytes(evidence.ManifestPath, bytes);
        CliRun run = await evidence.AuditAsync();
        AssertFailedExactly(run, "signature hsm-0", "signature hsm-1", "signature hsm-2");
        Assert.Contains("FAILED  signature hsm-1: signs a manifest with sha256", run.Out);
    }

    [TestMethod]
    public async Task A_signature_over_other_bytes_fails_even_when_its_file_names_this_manifest()
    {
        using var evidence = new Evidence();
        byte[] manifest = File.ReadAllBytes(evidence.ManifestPath);
        byte[] other = [.. manifest[..^1], (byte)(manifest[^1] ^ 1)];
        var forged = DeploymentSignature.For(2, evidence.IdentityKeys[2], manifest, evidence.SignWith(2, DeploymentManifest.SigningMessage(other)));
        File.WriteAllText(evidence.SignaturePath(2), forged.ToFileText());
        CliRun run = await evidence.AuditAsync();
        AssertFailedExactly(run, "signature hsm-2");
        Assert.Contains("does not verify under hsm-2's identity key", run.Out);
    }

    [TestMethod]
    public async Task A_missing_signature_fails_naming_the_hsm()
    {
        using var evidence = new Evidence();
        File.Delete(evidence.SignaturePath(1));
        CliRun run = await evidence.AuditAsync();
        AssertFailedExactly(run, "signature hsm-1");
        Assert.Contains("FAILED  signature hsm-1: missing: no signatures/hsm-1.json, so hsm-1", run.Out);
    }

    [TestMethod]
    public async Task A_signature_by_a_foreign_key_fails()
    {
        using var evidence = new Evidence();
        using ECDsa foreign = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] manifest = File.ReadAllBytes(evidence.ManifestPath);
        byte[] signature = foreign.SignData(DeploymentManifest.SigningMessage(manifest), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        // Signed by the foreign key and saying so: the key is not hsm-1's in the manifest.
        File.WriteAllText(evidence.SignaturePath(1), DeploymentSignature.For(1, Evidence.Compressed(foreign), manifest, signature).ToFileText());
        CliRun run = await evidence.AuditAsync();
        AssertFailedExactly(run, "signature hsm-1");
        Assert.Contains($"made by key {Convert.ToHexStringLower(Evidence.Compressed(foreign))}, which is not hsm-1's identity key", run.Out);

        // Signed by the foreign key, claiming hsm-1's: it does not verify.
        File.WriteAllText(evidence.SignaturePath(1), DeploymentSignature.For(1, evidence.IdentityKeys[1], manifest, signature).ToFileText());
        run = await evidence.AuditAsync();
        AssertFailedExactly(run, "signature hsm-1");
        Assert.Contains("does not verify under hsm-1's identity key", run.Out);
    }

    [TestMethod]
    public async Task A_signature_file_for_an_hsm_the_manifest_does_not_list_fails()
    {
        using var evidence = new Evidence();
        File.Copy(evidence.SignaturePath(0), Path.Combine(evidence.Directory, "signatures", "hsm-3.json"));
        CliRun run = await evidence.AuditAsync();
        AssertFailedExactly(run, "signatures");
        Assert.Contains("signatures/hsm-3.json: not the signature of an HSM the manifest lists", run.Out);
    }

    [TestMethod]
    public async Task A_fleet_key_file_with_another_digest_fails()
    {
        using var evidence = new Evidence();
        File.WriteAllText(Path.Combine(evidence.Directory, DeploymentEvidence.FleetKeysFile), Evidence.RandomFleetKeys("hsmvault-test").ToFileText());
        CliRun run = await evidence.AuditAsync();
        AssertFailedExactly(run, "fleet-key digest");
        Assert.Contains("the manifest states", run.Out);
    }

    [TestMethod]
    public async Task A_pinned_fleet_key_file_is_checked_too()
    {
        using var evidence = new Evidence();
        string pinned = Path.Combine(evidence.Directory, "..", "pinned-fleet-keys.json");
        File.WriteAllText(pinned, Evidence.RandomFleetKeys("hsmvault-test").ToFileText());
        CliRun run = await evidence.AuditAsync("--fleet-key", pinned);
        AssertFailedExactly(run, "pinned fleet-key digest");

        File.Copy(Path.Combine(evidence.Directory, DeploymentEvidence.FleetKeysFile), pinned, overwrite: true);
        run = await evidence.AuditAsync("--fleet-key", pinned);
        Assert.AreEqual(CliExitCode.Success, run.ExitCode, run.Out);
        Assert.Contains("ok      pinned fleet-key digest: ", run.Out);
    }

    [TestMethod]
    [DataRow(3, 1, 10, "quorum is 1; a fleet of 3 commits at a majority, 2")]
    [DataRow(3, 3, 10, "quorum is 3; a fleet of 3 commits at a majority, 2")]
    [DataRow(4, 2, 10, "quorum is 2; a fleet of 4 commits at a majority, 3")]
    [DataRow(3, 2, 0, "attempt_limit is 0, outside 1..1000")]
    [DataRow(3, 2, 1001, "attempt_limit is 1001, outside 1..1000")]
    public async Task A_bad_policy_signed_by_every_hsm_still_fails_the_policy_check(int hsms, int quorum, int attemptLimit, string problem)
    {
        using var evidence = new Evidence(hsms, quorum, attemptLimit);
        CliRun run = await evidence.AuditAsync();
        AssertFailedExactly(run, "policy");
        Assert.Contains($"FAILED  policy: {problem}", run.Out);
    }

    [TestMethod]
    public async Task Two_hsms_with_one_identity_key_fail_the_policy_check()
    {
        using var evidence = new Evidence(duplicateIdentity: true);
        CliRun run = await evidence.AuditAsync();
        AssertFailedExactly(run, "policy");
        Assert.Contains("hsms[2] has the identity key of an HSM listed before it", run.Out);
    }

    [TestMethod]
    public async Task A_wrong_code_hash_fails()
    {
        using var evidence = new Evidence();
        string other = Path.Combine(evidence.Directory, "..", "other-build");
        System.IO.Directory.CreateDirectory(other);
        foreach (string file in System.IO.Directory.GetFiles(evidence.BuildDirectory))
        {
            File.Copy(file, Path.Combine(other, Path.GetFileName(file)));
        }

        File.AppendAllText(Path.Combine(other, "HsmVault.Enclave.dll"), "another build");
        CliRun run = await evidence.AuditAsync("--enclave-assembly", Path.Combine(other, "HsmVault.Enclave.dll"));
        AssertFailedExactly(run, "code hash");
        Assert.Contains("FAILED  code hash: HsmVault.Enclave.dll has sha256", run.Out);

        // The enclave itself right, a project assembly it runs with not.
        File.Copy(Path.Combine(evidence.BuildDirectory, "HsmVault.Enclave.dll"), Path.Combine(other, "HsmVault.Enclave.dll"), overwrite: true);
        File.AppendAllText(Path.Combine(other, "HsmVault.Crypto.dll"), "another build");
        run = await evidence.AuditAsync("--enclave-assembly", Path.Combine(other, "HsmVault.Enclave.dll"));
        AssertFailedExactly(run, "code hash");
        Assert.Contains("HsmVault.Crypto.dll has sha256", run.Out);
    }

    [TestMethod]
    public async Task Without_a_build_to_compare_the_code_hash_is_not_checked_and_fails()
    {
        using var evidence = new Evidence();
        CliRun run = await CliRun.InvokeAsync(["audit", "--deployment", evidence.Directory]);
        AssertFailedExactly(run, "code hash");
        Assert.Contains("not checked: give --enclave-assembly PATH", run.Out);

        run = await CliRun.InvokeAsync(["audit", "--deployment", evidence.Directory, "--rebuild", evidence.Directory]);
        AssertFailedExactly(run, "code hash");
        Assert.Contains("--rebuild: ", run.Out);
        Assert.Contains("has no enclave/HsmVault.Enclave/HsmVault.Enclave.csproj", run.Out);
    }

    [TestMethod]
    [DataRow("final newline")]
    [DataRow("white space")]
    [DataRow("upper-case hex")]
    public async Task A_manifest_not_in_canonical_form_fails_even_when_signed(string change)
    {
        using var evidence = new Evidence();
        string text = File.ReadAllText(evidence.ManifestPath);
        string changed = change switch
        {
            "final newline" => text + "\n",
            "white space" => text.Replace(",\"policy\"", ", \"policy\"", StringComparison.Ordinal),
            _ => text.Replace(Convert.ToHexStringLower(evidence.Manifest.FleetKeysSha256), Convert.ToHexString(evidence.Manifest.FleetKeysSha256), StringComparison.Ordinal),
        };
        Assert.AreNotEqual(text, changed);
        File.WriteAllText(evidence.ManifestPath, changed);
        evidence.SignAll(Encoding.UTF8.GetBytes(changed));
        CliRun run = await evidence.AuditAsync();
        Assert.AreEqual(DeploymentAudit.ChecksFailed, run.ExitCode, run.Out);
        Assert.Contains(change == "upper-case hex" ? "FAILED  manifest: manifest: fleet_keys_sha256: must be 32 bytes in lower-case hex" : "FAILED  manifest: manifest: $: is not in the canonical form", run.Out);
        Assert.Contains("FAILED  signatures: not checked: the manifest cannot be read", run.Out);
    }

    [TestMethod]
    public async Task Audit_needs_a_deployment_folder()
    {
        CliRun run = await CliRun.InvokeAsync(["audit"]);
        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        Assert.Contains("audit: give --deployment <dir> (a deployment's evidence) or --log <url|dir> (a fleet-key log)", run.Error);

        run = await CliRun.InvokeAsync(["audit", "--deployment", Path.Combine(Path.GetTempPath(), "no-such-evidence-" + Guid.NewGuid())]);
        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        Assert.Contains("--deployment: ", run.Error);
        Assert.Contains("is not a folder", run.Error);
    }

    [TestMethod]
    public async Task Audit_help_names_the_checks_and_the_exit_code()
    {
        CliRun run = await CliRun.InvokeAsync(["audit", "--help"]);
        Assert.AreEqual(0, run.ExitCode);
        Assert.Contains("--deployment", run.Out);
        Assert.Contains("--enclave-assembly", run.Out);
        Assert.Contains("--rebuild", run.Out);
        Assert.Contains($"exit {CliExitCode.AuditFailed} naming the check that failed", string.Join(' ', run.Out.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries)));
        Assert.Contains("--log", run.Out, "the same command audits a fleet-key log");
    }

    [TestMethod]
    public async Task Deployment_and_log_options_do_not_mix()
    {
        using var evidence = new Evidence();
        CliRun run = await CliRun.InvokeAsync(["audit", "--deployment", evidence.Directory, "--log", evidence.Directory]);
        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        Assert.Contains("--deployment and --log: audit one thing at a time", run.Error);

        run = await CliRun.InvokeAsync(["audit", "--log", evidence.Directory, "--rebuild", evidence.Directory]);
        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        Assert.Contains("--enclave-assembly and --rebuild: only with --deployment", run.Error);
    }

    [TestMethod]
    public void The_manifest_bytes_are_pinned()
    {
        // Fixed keys, fixed hashes: the documented byte form (docs/DEPLOYMENT.md), byte for byte.
        FleetKeySet keys = FleetKeySet.Create("hsmvault-local", [0x04, .. Enumerable.Repeat((byte)0x11, 64)], [0x02, .. Enumerable.Repeat((byte)0x22, 32)]);
        byte[] identity = Convert.FromHexString("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
        DeploymentManifest manifest = DeploymentManifest.Create(keys, [.. Enumerable.Repeat((byte)0xee, 32)], [new DeploymentAssembly("HsmVault.Crypto.dll", [.. Enumerable.Repeat((byte)0xcc, 32)])], [identity], 1, 10);
        string expected =
            "{\"format\":\"hsmvault-deployment-manifest/v1\",\"fleet_id\":\"hsmvault-local\"," +
            $"\"fleet_keys_sha256\":\"{Convert.ToHexStringLower(keys.Digest)}\"," +
            $"\"enclave\":{{\"assembly\":\"HsmVault.Enclave.dll\",\"sha256\":\"{new string('e', 64)}\",\"dependencies\":[{{\"assembly\":\"HsmVault.Crypto.dll\",\"sha256\":\"{new string('c', 64)}\"}}]}}," +
            $"\"hsms\":[{{\"index\":0,\"member_id\":\"{Convert.ToHexStringLower(SHA256.HashData([.. "HsmVault-v1 member id"u8, .. identity])[..16])}\",\"identity_public_key\":\"036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\"}}]," +
            "\"policy\":{\"fleet_size\":1,\"quorum\":1,\"attempt_limit\":10}}";
        Assert.AreEqual(expected, Encoding.UTF8.GetString(manifest.ToCanonicalJson()));
        CollectionAssert.AreEqual(manifest.ToCanonicalJson(), DeploymentManifest.Parse(manifest.ToCanonicalJson()).ToCanonicalJson());
        CollectionAssert.AreEqual(Encoding.ASCII.GetBytes("HsmVault-v1 deployment manifest" + expected), manifest.SigningMessage());
    }

    private static void AssertFailedExactly(CliRun run, params string[] checks)
    {
        Assert.AreEqual(DeploymentAudit.ChecksFailed, run.ExitCode, run.Out + run.Error);
        string[] failed = [.. run.Out.Split('\n').Where(line => line.StartsWith("FAILED  ", StringComparison.Ordinal)).Select(line => line["FAILED  ".Length..line.IndexOf(": ", StringComparison.Ordinal)])];
        CollectionAssert.AreEquivalent(checks, failed, run.Out);
        Assert.Contains($"deployment NOT verified: {checks.Length} of ", run.Out);
        Assert.Contains(string.Join(", ", checks), run.Out);
    }

    /// <summary>A deployment's evidence as the ceremony writes it, made with software identity keys, and a fake enclave build.</summary>
    private sealed class Evidence : IDisposable
    {
        private readonly ECDsa[] _keys;
        private readonly string _root;

        public Evidence(int hsms = Hsms, int? quorum = null, int attemptLimit = 10, bool duplicateIdentity = false)
        {
            _root = System.IO.Directory.CreateTempSubdirectory("hsmvault-audit-").FullName;
            Directory = System.IO.Directory.CreateDirectory(Path.Combine(_root, "evidence")).FullName;
            BuildDirectory = System.IO.Directory.CreateDirectory(Path.Combine(_root, "build")).FullName;
            foreach (string assembly in new[] { "HsmVault.Enclave.dll", "HsmVault.Crypto.dll", "HsmVault.Protocol.dll" })
            {
                File.WriteAllBytes(Path.Combine(BuildDirectory, assembly), RandomNumberGenerator.GetBytes(2048));
            }

            _keys = [.. Enumerable.Range(0, hsms).Select(_ => ECDsa.Create(ECCurve.NamedCurves.nistP256))];
            if (duplicateIdentity)
            {
                _keys[^1] = _keys[0];
            }

            IdentityKeys = [.. _keys.Select(Compressed)];
            FleetKeySet fleetKeys = RandomFleetKeys("hsmvault-test");
            Manifest = DeploymentManifest.Create(
                fleetKeys,
                HashOf("HsmVault.Enclave.dll"),
                [new DeploymentAssembly("HsmVault.Protocol.dll", HashOf("HsmVault.Protocol.dll")), new DeploymentAssembly("HsmVault.Crypto.dll", HashOf("HsmVault.Crypto.dll"))],
                IdentityKeys,
                quorum ?? DeploymentPolicy.MajorityOf(hsms),
                attemptLimit);
            File.WriteAllBytes(ManifestPath, Manifest.ToCanonicalJson());
            File.WriteAllText(Path.Combine(Directory, DeploymentEvidence.FleetKeysFile), fleetKeys.ToFileText());
            System.IO.Directory.CreateDirectory(Path.Combine(Directory, DeploymentEvidence.SignaturesFolder));
            SignAll(Manifest.ToCanonicalJson());
            File.WriteAllText(Path.Combine(Directory, DeploymentEvidence.LogFile), "# a ceremony log\n");
        }

        public string Directory { get; }

        public string BuildDirectory { get; }

        public DeploymentManifest Manifest { get; }

        public byte[][] IdentityKeys { get; }

        public string ManifestPath => Path.Combine(Directory, DeploymentEvidence.ManifestFile);

        public static byte[] Compressed(ECDsa key)
        {
            ECParameters parameters = key.ExportParameters(includePrivateParameters: false);
            return [(byte)(0x02 | (parameters.Q.Y![^1] & 1)), .. parameters.Q.X!];
        }

        public static FleetKeySet RandomFleetKeys(string fleetId)
        {
            using ECDsa channel = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            using ECDsa ake = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            ECParameters q = channel.ExportParameters(false);
            return FleetKeySet.Create(fleetId, [0x04, .. q.Q.X!, .. q.Q.Y!], Compressed(ake));
        }

        public string SignaturePath(int index) => Path.Combine(Directory, DeploymentEvidence.SignatureFile(index));

        public byte[] SignWith(int index, byte[] message) => _keys[index].SignData(message, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

        public void SignAll(byte[] manifest)
        {
            for (int i = 0; i < _keys.Length; i++)
            {
                File.WriteAllText(SignaturePath(i), DeploymentSignature.For(i, IdentityKeys[i], manifest, SignWith(i, DeploymentManifest.SigningMessage(manifest))).ToFileText());
            }
        }

        public Task<CliRun> AuditAsync(params string[] extra) =>
            CliRun.InvokeAsync(["audit", "--deployment", Directory, .. extra.Contains("--enclave-assembly") ? [] : new[] { "--enclave-assembly", Path.Combine(BuildDirectory, "HsmVault.Enclave.dll") }, .. extra]);

        public void Dispose()
        {
            foreach (ECDsa key in _keys.Distinct())
            {
                key.Dispose();
            }

            System.IO.Directory.Delete(_root, recursive: true);
        }

        private byte[] HashOf(string assembly) => SHA256.HashData(File.ReadAllBytes(Path.Combine(BuildDirectory, assembly)));
    }
}
