using System.Security.Cryptography;
using HsmVault.Enclave;
using HsmVault.Enclave.Fleet;
using HsmVault.Protocol.V1;
using HsmVault.Simulator.Pkcs11;
using HsmVault.Simulator.Tests.Bridge;
using HsmVault.Simulator.Tests.Enclave;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Tests.Fleet;

/// <summary>
/// The TEST-ONLY clone (<c>hsmvault-simulator clone</c>, run as its own process) of a provisioned
/// state directory: a second HSM of the same fleet. Source and clone are then opened here side by
/// side, each on a SoftHSM2 instance of its own (<see cref="SoftHsmStateInstance"/>).
/// </summary>
[TestClass]
public sealed class SimulatorCloneTests
{
    private static string? s_directory;
    private static Pkcs11HsmServices? s_source;
    private static Pkcs11HsmServices? s_clone;
    private static Pkcs11Options? s_cloneOptions;
    private static Outcome? s_cloned;
    private static byte[] s_cloneNvramAtStart = [];
    private static List<string> s_cloneLabelsAtStart = [];

    private static string Root => s_directory ?? throw new InvalidOperationException("Class initialisation did not run.");

    private static string SourceDirectory => Path.Combine(Root, "source");

    private static Pkcs11HsmServices Source => s_source ?? throw new InvalidOperationException("Class initialisation did not run.");

    private static Pkcs11HsmServices Clone => s_clone ?? throw new InvalidOperationException("Class initialisation did not run.");

    private static Pkcs11Options CloneOptions => s_cloneOptions ?? throw new InvalidOperationException("Class initialisation did not run.");

    /// <summary>Provisions a state directory as <c>serve --state-dir</c> does, gives it NVRAM, and clones it.</summary>
    [ClassInitialize]
    public static void CloneAProvisionedMember(TestContext context)
    {
        s_directory = System.IO.Directory.CreateTempSubdirectory("hsmvault-clone-").FullName;
        s_source = Pkcs11HsmServices.OpenOrProvision(SoftHsmStateInstance.Open(SourceDirectory));
        s_source.WriteNvram("a member's own state, which a new member must not start with"u8);

        s_cloned = SimulatorProcess.Run(["clone", "--from", SourceDirectory, "--to", Path.Combine(Root, "clone"), "--library", SoftHsmSandbox.ForThisProcess.LibraryPath]);
        Assert.AreEqual(SimulatorExitCode.Cloned, s_cloned.ExitCode, s_cloned.ToString());

        // The source has joined nothing either, for the fleet test below.
        s_source.WriteNvram([]);
        s_cloneOptions = SoftHsmStateInstance.Open(Path.Combine(Root, "clone"));
        s_clone = Pkcs11HsmServices.Open(s_cloneOptions);

        // As the clone left them: the fleet test below writes the clone's NVRAM.
        s_cloneNvramAtStart = s_clone.ReadNvram();
        using var inspector = new TokenInspector(s_cloneOptions);
        s_cloneLabelsAtStart = inspector.LabelsStartingWith(s_cloneOptions.KeyLabelPrefix + "-");
    }

    [ClassCleanup]
    public static void Close()
    {
        s_source?.Dispose();
        s_clone?.Dispose();
        if (s_directory is not null)
        {
            System.IO.Directory.Delete(s_directory, recursive: true);
        }
    }

    [TestMethod]
    public void The_clone_says_in_one_line_what_it_made_and_that_it_is_test_only()
    {
        Outcome cloned = s_cloned!;
        Assert.AreEqual(string.Empty, cloned.Error.Trim());
        string line = cloned.SingleOutputLine();
        Assert.Contains("TEST ONLY", line);
        Assert.Contains($"cloned '{SourceDirectory}'", line);
        Assert.Contains("key wrap", line);
        Assert.Contains($"fleet member {Convert.ToHexStringLower(new FleetEnclave(Clone).MemberId)}", line);
    }

    [TestMethod]
    public void The_clone_has_the_fleet_public_keys_a_new_identity_key_and_no_nvram()
    {
        CollectionAssert.AreEqual(Source.AkePublicKey, Clone.AkePublicKey, "AKE public key");
        CollectionAssert.AreEqual(Source.ChannelPublicKey, Clone.ChannelPublicKey, "channel public key");
        CollectionAssert.AreNotEqual(Source.IdentityPublicKey, Clone.IdentityPublicKey, "identity public key: a distinct HSM");
        CollectionAssert.AreNotEqual(new FleetEnclave(Source).MemberId, new FleetEnclave(Clone).MemberId, "member id");
        Assert.IsEmpty(s_cloneNvramAtStart, "the clone has joined no fleet");

        string prefix = CloneOptions.KeyLabelPrefix;
        Assert.DoesNotContain($"{prefix}-nvram", s_cloneLabelsAtStart, "no NVRAM object was copied");
        CollectionAssert.AreEquivalent(
            Pkcs11KeySet.For(new Pkcs11KeyLabels(prefix)).SelectMany(key => key.Kind is Pkcs11KeyKind.AesKey or Pkcs11KeyKind.HmacKey ? new[] { key.Label } : [key.Label, key.Label]).ToList(),
            s_cloneLabelsAtStart,
            "exactly the key set: each secret key once, each key pair's two halves");
        HsmServicesConformance.AssertSignatureVerifies(Clone);
    }

    [TestMethod]
    [DynamicData(nameof(Pkcs11KeyProtectionTests.SecretAndPrivateKeys), typeof(Pkcs11KeyProtectionTests))]
    public void Every_key_of_the_clone_is_still_sensitive_and_never_extractable(CKO objectClass, string label)
    {
        using var inspector = new TokenInspector(CloneOptions);
        IObjectHandle key = inspector.FindSingle(objectClass, $"{CloneOptions.KeyLabelPrefix}-{label}");
        Pkcs11KeyProtectionTests.AssertSensitiveTokenObjectNeverExtractable(inspector, key);
        Pkcs11KeyProtectionTests.AssertValueCannotBeRead(inspector, key);
        Pkcs11KeyProtectionTests.AssertCannotBeWrapped(inspector, key);
    }

    [TestMethod]
    public void The_clone_uses_the_same_secret_keys()
    {
        Assert.IsTrue(Clone.TryUnseal(Source.Seal("sealed by the source"u8, "aad"u8), "aad"u8, out byte[] opened), "the record key is the same");
        CollectionAssert.AreEqual("sealed by the source"u8.ToArray(), opened);
        Assert.IsTrue(Source.TryUnseal(Clone.Seal("sealed by the clone"u8, []), [], out _), "and the other way");
        foreach (HsmHmacKey role in Enum.GetValues<HsmHmacKey>())
        {
            CollectionAssert.AreEqual(Source.Hmac(role, "input"u8), Clone.Hmac(role, "input"u8), $"HMAC key {role}");
        }

        byte[] peer = HsmServicesConformance.Compress(HsmServicesConformance.Curve.G.Multiply(HsmServicesConformance.RandomScalar()));
        CollectionAssert.AreEqual(Source.AkeDiffieHellman(peer), Clone.AkeDiffieHellman(peer), "AKE private key");
    }

    [TestMethod]
    public void Members_over_the_source_and_the_clone_form_a_fleet_and_serve_each_others_users()
    {
        var sourceMember = new FleetEnclave(Source);
        var cloneMember = new FleetEnclave(Clone);
        var fleet = new HonestFleetHosts([sourceMember.Handle, cloneMember.Handle], [Source.IdentityPublicKey, Clone.IdentityPublicKey], Source.AkePublicKey, Source.ChannelPublicKey);

        // The join checks the source's vouch under the clone's log MAC key.
        fleet.Form();
        Assert.AreEqual(FleetRole.Witness, fleet.State(1).Role, "the clone joined");

        // The clone captures, and vouches for, what the source leads: the log MAC key is the same.
        fleet.Elect(0);
        Assert.AreEqual(CaptureOutcome.CaptureOk, fleet.LastCaptures[1].Outcome, fleet.LastCaptures[1].ToString());
        Assert.AreEqual(fleet.Log[^1].Index, fleet.LastCaptures[1].CapturedIndex, "the clone captured the source's entry");
        var alice = new VaultTestUser(fleet.Send, () => fleet.AkePublicKey, "alice");
        byte[] backupKey = RandomNumberGenerator.GetBytes(32);
        alice.Register("correct horse", backupKey);
        Assert.IsNull(alice.Recover("wrong horse"));

        // The clone leads: it opens the record the source sealed, evaluates the OPRF with the same
        // seed, answers KE2 with the same AKE key and opens requests sealed to the same channel key.
        fleet.StepDown();
        fleet.Elect(1);
        Assert.AreEqual(CaptureOutcome.CaptureOk, fleet.LastCaptures[0].Outcome, "the source follows the clone");
        Assert.AreEqual(9u, alice.Status().Status.AttemptsLeft, "the guess counted under the source stays counted");
        CollectionAssert.AreEqual(backupKey, alice.Recover("correct horse"));
    }

    [TestMethod]
    public void A_missing_source_is_refused()
    {
        string target = Path.Combine(Root, "from-missing");
        Outcome outcome = SimulatorProcess.Run(["clone", "--from", Path.Combine(Root, "no-such-state"), "--to", target]);
        Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, outcome.ExitCode, outcome.ToString());
        string line = outcome.SingleErrorLine();
        Assert.StartsWith("hsmvault-simulator: --from: ", line);
        Assert.Contains("no-such-state' does not exist", line);
        Assert.IsFalse(System.IO.Directory.Exists(target), "nothing was made");
    }

    [TestMethod]
    public void A_folder_that_is_not_a_state_directory_is_refused()
    {
        string notState = System.IO.Directory.CreateDirectory(Path.Combine(Root, "not-state")).FullName;
        File.WriteAllText(Path.Combine(notState, "notes.txt"), "not a token");
        string target = Path.Combine(Root, "from-not-state");
        Outcome outcome = SimulatorProcess.Run(["clone", "--from", notState, "--to", target]);
        Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, outcome.ExitCode, outcome.ToString());
        string line = outcome.SingleErrorLine();
        Assert.StartsWith("hsmvault-simulator: --from: ", line);
        Assert.Contains("is not a provisioned simulator state directory", line);
        Assert.IsFalse(System.IO.Directory.Exists(target), "nothing was made");
    }

    [TestMethod]
    public void A_state_directory_whose_token_holds_no_keys_is_refused_and_nothing_is_left()
    {
        // Initialised (as a start-up that failed before provisioning leaves it) but never provisioned.
        string empty = Path.Combine(Root, "initialised-only");
        _ = SoftHsmStateInstance.Open(empty);
        string target = System.IO.Directory.CreateDirectory(Path.Combine(Root, "from-initialised-only")).FullName;
        Outcome outcome = SimulatorProcess.Run(["clone", "--from", empty, "--to", target, "--library", SoftHsmSandbox.ForThisProcess.LibraryPath]);
        Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, outcome.ExitCode, outcome.ToString());
        string line = outcome.SingleErrorLine();
        Assert.StartsWith("hsmvault-simulator: --from: ", line);
        Assert.Contains("does not hold a provisioned key set 'hsmvault-*'", line);
        Assert.IsEmpty(System.IO.Directory.EnumerateFileSystemEntries(target), "the empty target was left empty");
    }

    [TestMethod]
    public void A_target_that_is_not_empty_is_refused_and_left_alone()
    {
        string target = System.IO.Directory.CreateDirectory(Path.Combine(Root, "occupied")).FullName;
        File.WriteAllText(Path.Combine(target, "keep.txt"), "someone's file");
        Outcome outcome = SimulatorProcess.Run(["clone", "--from", SourceDirectory, "--to", target]);
        Assert.AreEqual(SimulatorExitCode.InvalidConfiguration, outcome.ExitCode, outcome.ToString());
        string line = outcome.SingleErrorLine();
        Assert.StartsWith("hsmvault-simulator: --to: ", line);
        Assert.Contains("is not empty", line);
        CollectionAssert.AreEqual(new[] { Path.Combine(target, "keep.txt") }, System.IO.Directory.GetFileSystemEntries(target));
    }
}
