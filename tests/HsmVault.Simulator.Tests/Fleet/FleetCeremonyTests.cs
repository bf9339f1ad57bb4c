using System.Diagnostics;
using System.Security.Cryptography;
using HsmVault.Cli;
using HsmVault.Enclave;
using HsmVault.Enclave.Fleet;
using HsmVault.Protocol.Deployment;
using HsmVault.Protocol.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Simulator.Pkcs11;
using HsmVault.Simulator.Tests.Bridge;
using HsmVault.Simulator.Tests.Enclave;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Tests.Fleet;

/// <summary>
/// The deployment ceremony (<c>hsmvault-simulator fleet-init</c>, run as its own process) over three new
/// SoftHSM2 tokens, each then opened here on a SoftHSM2 instance of its own (<see cref="SoftHsmStateInstance"/>):
/// the same fleet keys everywhere, moved by key wrap and protected in every token, an identity key of each
/// HSM's own, a manifest every HSM signed, and a fleet the tokens form.
/// </summary>
[TestClass]
public sealed class FleetCeremonyTests
{
    private const int Members = 3;
    private static string? s_root;
    private static Outcome? s_ceremony;
    private static Outcome? s_wrongIndexSign;
    private static readonly Pkcs11Options?[] s_options = new Pkcs11Options?[Members];
    private static readonly Pkcs11HsmServices?[] s_hsms = new Pkcs11HsmServices?[Members];

    private static string Root => s_root ?? throw new InvalidOperationException("Class initialisation did not run.");

    private static string Evidence => Path.Combine(Root, "evidence");

    private static string Member(int i) => Path.Combine(Root, $"hsm-{i}");

    private static Pkcs11HsmServices Hsm(int i) => s_hsms[i] ?? throw new InvalidOperationException("Class initialisation did not run.");

    private static Pkcs11Options Options(int i) => s_options[i] ?? throw new InvalidOperationException("Class initialisation did not run.");

    public static IEnumerable<object[]> MembersAndFleetKeys() =>
        from member in Enumerable.Range(0, Members)
        from row in Pkcs11KeyProtectionTests.SecretAndPrivateKeys()
        where (string)row[1] != "identity-key"
        select new object[] { member, row[0], row[1] };

    public static IEnumerable<object[]> EachMember() => Enumerable.Range(0, Members).Select(i => new object[] { i });

    [ClassInitialize]
    public static void RunTheCeremony(TestContext context)
    {
        s_root = System.IO.Directory.CreateTempSubdirectory("hsmvault-ceremony-test-").FullName;
        s_ceremony = Run(["fleet-init", "--members", string.Join(',', Enumerable.Range(0, Members).Select(Member)), "--out", Evidence, "--library", SoftHsmSandbox.ForThisProcess.LibraryPath]);
        Assert.AreEqual(SimulatorExitCode.Stopped, s_ceremony.ExitCode, s_ceremony.ToString());

        // Before this process opens the tokens: an HSM refuses to sign a manifest that lists another HSM at its index.
        s_wrongIndexSign = Run(["ceremony", "sign", "--state-dir", Member(1), "--index", "0", "--manifest", Path.Combine(Evidence, DeploymentEvidence.ManifestFile),
            "--out", Path.Combine(Root, "refused.json"), "--library", SoftHsmSandbox.ForThisProcess.LibraryPath]);

        for (int i = 0; i < Members; i++)
        {
            s_options[i] = SoftHsmStateInstance.Open(Member(i));
            s_hsms[i] = Pkcs11HsmServices.Open(Options(i));
        }
    }

    [ClassCleanup]
    public static void Close()
    {
        foreach (Pkcs11HsmServices? hsm in s_hsms)
        {
            hsm?.Dispose();
        }

        if (s_root is not null)
        {
            System.IO.Directory.Delete(s_root, recursive: true);
        }
    }

    [TestMethod]
    public void The_ceremony_reports_each_step_and_writes_publishable_evidence()
    {
        Outcome ceremony = s_ceremony!;
        Assert.AreEqual(string.Empty, ceremony.Error.Trim());
        Assert.Contains("hsm-0: fleet keys generated and wrapped for 2 HSMs under trusted transport keys", ceremony.Output);
        Assert.Contains("hsm-2: fleet keys unwrapped inside the token, transport keys destroyed, own identity key generated", ceremony.Output);
        Assert.Contains($"deployed on {Members} HSMs", ceremony.Output);
        CollectionAssert.AreEquivalent(
            new[] { "ceremony-log.txt", "fleet-keys.json", "manifest.json", "signatures/hsm-0.json", "signatures/hsm-1.json", "signatures/hsm-2.json" },
            System.IO.Directory.GetFiles(Evidence, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Evidence, f)).ToArray(),
            "the evidence is exactly these files (the work folder with the wrapped packages is gone)");

        string log = File.ReadAllText(Path.Combine(Evidence, DeploymentEvidence.LogFile));
        Assert.Contains("security officer marked hsm-1's transport key", log);
        Assert.Contains("CKA_TRUSTED", log);
        Assert.Contains("hsm-2 import: check values: every HMAC key gives hsm-0's", log);
        Assert.Contains("hsm-2 sign: signed the manifest", log);
        Assert.DoesNotContain("PIN", log.ToUpperInvariant(), "no PIN in the log");
        foreach (string pinFile in Enumerable.Range(0, Members).SelectMany(i => new[] { "user-pin", "so-pin" }.Select(f => File.ReadAllText(Path.Combine(Member(i), f)).Trim())))
        {
            Assert.DoesNotContain(pinFile, log, "no PIN value in the log");
        }
    }

    [TestMethod]
    public void Every_hsm_holds_the_same_fleet_public_keys_and_an_identity_key_of_its_own()
    {
        for (int i = 1; i < Members; i++)
        {
            CollectionAssert.AreEqual(Hsm(0).AkePublicKey, Hsm(i).AkePublicKey, $"AKE public key of hsm-{i}");
            CollectionAssert.AreEqual(Hsm(0).ChannelPublicKey, Hsm(i).ChannelPublicKey, $"channel public key of hsm-{i}");
        }

        Assert.HasCount(Members, Enumerable.Range(0, Members).Select(i => Convert.ToHexString(Hsm(i).IdentityPublicKey)).Distinct(), "identity keys are distinct");
        Assert.HasCount(Members, Enumerable.Range(0, Members).Select(i => Convert.ToHexString(new FleetEnclave(Hsm(i)).MemberId)).Distinct(), "member ids are distinct");
        FleetKeySet evidence = FleetKeySet.Load(Path.Combine(Evidence, DeploymentEvidence.FleetKeysFile));
        CollectionAssert.AreEqual(Hsm(0).ChannelPublicKey, evidence.ChannelPublicKey);
        CollectionAssert.AreEqual(Hsm(0).AkePublicKey, evidence.OpaqueAkePublicKey);
    }

    [TestMethod]
    public void Every_hsm_uses_the_same_secret_keys()
    {
        byte[] sealedBy0 = Hsm(0).Seal("sealed by hsm-0"u8, "aad"u8);
        byte[] peer = HsmServicesConformance.Compress(HsmServicesConformance.Curve.G.Multiply(HsmServicesConformance.RandomScalar()));
        for (int i = 1; i < Members; i++)
        {
            Assert.IsTrue(Hsm(i).TryUnseal(sealedBy0, "aad"u8, out byte[] opened), $"hsm-{i} opens what hsm-0 sealed");
            CollectionAssert.AreEqual("sealed by hsm-0"u8.ToArray(), opened);
            Assert.IsTrue(Hsm(0).TryUnseal(Hsm(i).Seal("back"u8, []), [], out _), $"and hsm-0 what hsm-{i} sealed");
            foreach (HsmHmacKey role in Enum.GetValues<HsmHmacKey>())
            {
                CollectionAssert.AreEqual(Hsm(0).Hmac(role, "input"u8), Hsm(i).Hmac(role, "input"u8), $"HMAC key {role} of hsm-{i}");
            }

            CollectionAssert.AreEqual(Hsm(0).AkeDiffieHellman(peer), Hsm(i).AkeDiffieHellman(peer), $"AKE private key of hsm-{i}");
            CollectionAssert.AreEqual(Hsm(0).ChannelDiffieHellman(HsmServicesConformance.Decode(peer).GetEncoded(false)), Hsm(i).ChannelDiffieHellman(HsmServicesConformance.Decode(peer).GetEncoded(false)), $"channel private key of hsm-{i}");
        }
    }

    [TestMethod]
    [DynamicData(nameof(EachMember))]
    public void Each_token_holds_exactly_the_key_set_and_no_transport_key(int member)
    {
        using var inspector = new TokenInspector(Options(member));
        string prefix = Options(member).KeyLabelPrefix;
        CollectionAssert.AreEquivalent(
            Pkcs11KeySet.For(new Pkcs11KeyLabels(prefix)).SelectMany(key => key.Kind is Pkcs11KeyKind.AesKey or Pkcs11KeyKind.HmacKey ? new[] { key.Label } : [key.Label, key.Label]).ToList(),
            inspector.LabelsStartingWith(prefix + "-"),
            "each secret key once, each key pair's two halves; no transport key, no NVRAM");
        Assert.IsEmpty(inspector.Find(CKO.CKO_PRIVATE_KEY, $"{prefix}-transport-key"));
        Assert.IsEmpty(inspector.Find(CKO.CKO_PUBLIC_KEY, $"{prefix}-transport-key"));
    }

    [TestMethod]
    [DynamicData(nameof(MembersAndFleetKeys))]
    public void Every_copy_of_a_fleet_key_is_sensitive_unreadable_and_wrappable_only_under_a_trusted_key(int member, CKO objectClass, string label)
    {
        using var inspector = new TokenInspector(Options(member));
        IObjectHandle key = inspector.FindSingle(objectClass, $"{Options(member).KeyLabelPrefix}-{label}");
        Pkcs11WrapWithTrustedTests.AssertSensitiveAndWrappableOnlyUnderTrustedKeys(inspector, key);
        Pkcs11KeyProtectionTests.AssertValueCannotBeRead(inspector, key);
        Pkcs11WrapWithTrustedTests.AssertUntrustedKeyCannotWrap(inspector, key);
        Pkcs11WrapWithTrustedTests.AssertProtectionCannotBeRelaxed(inspector, key);

        // hsm-0 generated the keys inside itself; every other HSM got them by C_UnwrapKey.
        Assert.AreEqual(member == 0, inspector.Read(key, CKA.CKA_LOCAL).GetValueAsBool(), "CKA_LOCAL: generated in this token");
        Assert.AreEqual(member == 0, inspector.Read(key, CKA.CKA_ALWAYS_SENSITIVE).GetValueAsBool(), "CKA_ALWAYS_SENSITIVE");
    }

    [TestMethod]
    [DynamicData(nameof(EachMember))]
    public void Every_copy_of_the_record_key_keeps_the_derive_right_and_nothing_more(int member)
    {
        // The key-wrap copies land with the generated key's template: XAES-256-GCM needs CKA_DERIVE on every member.
        using var inspector = new TokenInspector(Options(member));
        IObjectHandle key = inspector.FindSingle(CKO.CKO_SECRET_KEY, $"{Options(member).KeyLabelPrefix}-record-key");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_DERIVE).GetValueAsBool(), "CKA_DERIVE");
        Assert.IsFalse(inspector.Read(key, CKA.CKA_ENCRYPT).GetValueAsBool(), "CKA_ENCRYPT");
        Assert.IsFalse(inspector.Read(key, CKA.CKA_DECRYPT).GetValueAsBool(), "CKA_DECRYPT");
        Assert.IsTrue(inspector.Read(key, CKA.CKA_SENSITIVE).GetValueAsBool(), "CKA_SENSITIVE");
    }

    [TestMethod]
    [DynamicData(nameof(EachMember))]
    public void Each_identity_key_was_generated_in_its_own_token_and_never_leaves_it(int member)
    {
        using var inspector = new TokenInspector(Options(member));
        IObjectHandle identity = inspector.FindSingle(CKO.CKO_PRIVATE_KEY, $"{Options(member).KeyLabelPrefix}-identity-key");
        Pkcs11KeyProtectionTests.AssertSensitiveTokenObjectNeverExtractable(inspector, identity);
        Pkcs11KeyProtectionTests.AssertValueCannotBeRead(inspector, identity);
        Pkcs11KeyProtectionTests.AssertCannotBeWrapped(inspector, identity);
    }

    [TestMethod]
    public void The_manifest_states_the_fleet_and_every_hsm_signed_it_with_its_identity_key()
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(Evidence, DeploymentEvidence.ManifestFile));
        DeploymentManifest manifest = DeploymentManifest.Parse(bytes);
        Assert.AreEqual("hsmvault-local", manifest.FleetId);
        CollectionAssert.AreEqual(FleetKeySet.Create("hsmvault-local", Hsm(0).ChannelPublicKey, Hsm(0).AkePublicKey).Digest, manifest.FleetKeysSha256);
        Assert.AreEqual(new DeploymentPolicy(Members, 2, VaultPolicy.DefaultAttemptLimit), manifest.Policy);
        Assert.IsEmpty(manifest.PolicyProblems());
        using (FileStream enclave = File.OpenRead(typeof(VaultEnclave).Assembly.Location))
        {
            CollectionAssert.AreEqual(SHA256.HashData(enclave), manifest.CodeHash, "the code hash is that of the enclave assembly the simulator ran");
        }

        CollectionAssert.AreEqual(new[] { "HsmVault.Crypto.dll", "HsmVault.Protocol.dll" }, manifest.Dependencies.Select(d => d.Assembly).ToArray());
        for (int i = 0; i < Members; i++)
        {
            CollectionAssert.AreEqual(Hsm(i).IdentityPublicKey, manifest.Hsms[i].IdentityPublicKey, $"hsms[{i}] is hsm-{i}'s identity key");
            DeploymentSignature signature = DeploymentSignature.Parse(File.ReadAllText(Path.Combine(Evidence, DeploymentEvidence.SignatureFile(i))), "signature");
            Assert.AreEqual(i, signature.Index);
            Assert.IsTrue(signature.Verifies(bytes), $"hsm-{i}'s signature verifies");
            using ECDsa verifier = HsmServicesConformance.PublicEcdsa(Hsm(i).IdentityPublicKey);
            Assert.IsTrue(verifier.VerifyData(DeploymentManifest.SigningMessage(bytes), signature.Signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation),
                $"hsm-{i}'s signature verifies under its identity key, checked by the platform");
            byte[] changed = [.. bytes];
            changed[^3] ^= 1;
            Assert.IsFalse(signature.Verifies(changed), "not over other bytes");
        }
    }

    [TestMethod]
    public void An_hsm_refuses_to_sign_a_manifest_that_lists_another_hsm_at_its_index()
    {
        Outcome refused = s_wrongIndexSign!;
        Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, refused.ExitCode, refused.ToString());
        Assert.Contains("hsm-0 refuses to sign the manifest: hsms[0] is not this HSM's identity key", refused.SingleErrorLine());
        Assert.IsFalse(File.Exists(Path.Combine(Root, "refused.json")));
    }

    [TestMethod]
    public void Members_over_two_ceremony_tokens_form_a_fleet_and_serve_each_others_users()
    {
        var first = new FleetEnclave(Hsm(1));
        var second = new FleetEnclave(Hsm(2));
        var fleet = new HonestFleetHosts([first.Handle, second.Handle], [Hsm(1).IdentityPublicKey, Hsm(2).IdentityPublicKey], Hsm(1).AkePublicKey, Hsm(1).ChannelPublicKey);
        try
        {
            // The join checks hsm-1's vouch under hsm-2's log MAC key: both came out of hsm-0 by key wrap.
            fleet.Form();
            Assert.AreEqual(FleetRole.Witness, fleet.State(1).Role, "hsm-2 joined");
            fleet.Elect(0);
            Assert.AreEqual(CaptureOutcome.CaptureOk, fleet.LastCaptures[1].Outcome, fleet.LastCaptures[1].ToString());
            var alice = new VaultTestUser(fleet.Send, () => fleet.AkePublicKey, "alice");
            byte[] backupKey = RandomNumberGenerator.GetBytes(32);
            alice.Register("correct horse", backupKey);
            Assert.IsNull(alice.Recover("wrong horse"));
            Assert.AreEqual(fleet.Log[^1].Index, fleet.LastCaptures[1].CapturedIndex, "hsm-2 captured what hsm-1 wrote");

            fleet.StepDown();
            fleet.Elect(1);
            Assert.AreEqual(CaptureOutcome.CaptureOk, fleet.LastCaptures[0].Outcome, "hsm-1 follows hsm-2");
            Assert.AreEqual(9u, alice.Status().Status.AttemptsLeft, "the guess counted under hsm-1 stays counted");
            CollectionAssert.AreEqual(backupKey, alice.Recover("correct horse"), "hsm-2 opens hsm-1's record, evaluates the same OPRF and answers with the same AKE key");
        }
        finally
        {
            Hsm(1).WriteNvram([]);
            Hsm(2).WriteNvram([]);
        }
    }

    [TestMethod]
    public async Task The_audit_verifies_the_ceremonys_evidence_and_fails_a_changed_manifest_byte()
    {
        string enclave = typeof(VaultEnclave).Assembly.Location;
        (int code, string output) = await AuditAsync(Evidence, enclave);
        Assert.AreEqual(CliExitCode.Success, code, output);
        Assert.Contains($"deployment verified: all {Members + 5} checks passed", output);

        string tampered = Path.Combine(Root, "tampered");
        CopyTree(Evidence, tampered);
        string manifestPath = Path.Combine(tampered, DeploymentEvidence.ManifestFile);
        byte[] bytes = File.ReadAllBytes(manifestPath);
        int at = System.Text.Encoding.ASCII.GetString(bytes).IndexOf("\"attempt_limit\":10", StringComparison.Ordinal) + "\"attempt_limit\":".Length;
        bytes[at] = (byte)'2';
        File.WriteAllBytes(manifestPath, bytes);
        (code, output) = await AuditAsync(tampered, enclave);
        Assert.AreEqual(Cli.Audit.DeploymentAudit.ChecksFailed, code, output);
        for (int i = 0; i < Members; i++)
        {
            Assert.Contains($"FAILED  signature hsm-{i}: signs a manifest with sha256", output);
        }
    }

    [TestMethod]
    public void The_ceremony_refuses_a_member_folder_that_is_not_empty_and_makes_nothing()
    {
        string root = System.IO.Directory.CreateDirectory(Path.Combine(Root, "occupied")).FullName;
        string occupied = System.IO.Directory.CreateDirectory(Path.Combine(root, "hsm-1")).FullName;
        File.WriteAllText(Path.Combine(occupied, "keep.txt"), "someone's file");
        Outcome outcome = Run(["fleet-init", "--members", $"{Path.Combine(root, "hsm-0")},{occupied}", "--out", Path.Combine(root, "evidence")]);
        Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, outcome.ExitCode, outcome.ToString());
        Assert.Contains("hsm-1's state directory", outcome.SingleErrorLine());
        Assert.Contains("is not empty", outcome.Error);
        CollectionAssert.AreEquivalent(new[] { occupied }, System.IO.Directory.GetFileSystemEntries(root), "nothing was made");
    }

    [TestMethod]
    public void A_token_without_rsa_oaep_cannot_take_part_and_says_so()
    {
        if (SoftHsmSandbox.ForThisProcess.PreinitialisedTokenLabel is not null)
        {
            Assert.Inconclusive("This test hides a mechanism through a SoftHSM2 configuration of its own.");
        }

        // A state directory keeps an existing softhsm2.conf; SoftHSM2 2.6 ignores the first name after the '-'.
        string directory = System.IO.Directory.CreateDirectory(Path.Combine(Root, "no-oaep")).FullName;
        string tokens = System.IO.Directory.CreateDirectory(Path.Combine(directory, "tokens")).FullName;
        SoftHsmStateDirectory.WriteConfiguration(Path.Combine(directory, "softhsm2.conf"), tokens);
        File.AppendAllText(Path.Combine(directory, "softhsm2.conf"), "slots.mechanisms = -CKM_MD5,CKM_RSA_PKCS_OAEP\n");
        Outcome outcome = Run(["ceremony", "prepare", "--state-dir", directory, "--index", "1", "--out", Path.Combine(Root, "no-oaep.json"), "--library", SoftHsmSandbox.ForThisProcess.LibraryPath]);
        Assert.AreEqual(SimulatorExitCode.CeremonyUnsupported, outcome.ExitCode, outcome.ToString());
        Assert.Contains("CKM_RSA_PKCS_OAEP is not offered", outcome.SingleErrorLine());
        Assert.IsFalse(File.Exists(Path.Combine(Root, "no-oaep.json")));
    }

    [TestMethod]
    public void Fleet_init_help_explains_the_ceremony_and_lists_its_exit_codes()
    {
        Outcome outcome = SimulatorProcess.Run(["fleet-init", "--help"]);
        Assert.AreEqual(0, outcome.ExitCode, outcome.ToString());
        string help = outcome.Output.ReplaceLineEndings(" ");
        foreach (string expected in new[] { "--members", "--out", "--fleet-id", "--attempt-limit", "key wrap", "security officer marks trusted", "Exit codes:", "3 a token cannot do the ceremony" })
        {
            Assert.Contains(expected, string.Join(' ', help.Split(' ', StringSplitOptions.RemoveEmptyEntries)), $"help mentions {expected}");
        }
    }

    internal static async Task<(int Code, string Output)> AuditAsync(string evidence, string enclaveAssembly)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = new CliConsole(new StringReader(string.Empty), output, error, false, () => null, _ => null);
        int code = await HsmVaultCli.RunAsync(["audit", "--deployment", evidence, "--enclave-assembly", enclaveAssembly], console);
        return (code, output + error.ToString());
    }

    private static void CopyTree(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        foreach (string file in System.IO.Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    // fleet-init runs several steps; on a busy machine that takes longer than a single command's limit.
    private static Outcome Run(string[] arguments)
    {
        using Process process = Process.Start(SimulatorProcess.StartInfo(arguments)) ?? throw new InvalidOperationException("dotnet did not start");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the simulator did not exit within 10 minutes: {string.Join(' ', arguments)}");
        }

        return new Outcome(process.ExitCode, stdout.Result, stderr.Result);
    }
}
