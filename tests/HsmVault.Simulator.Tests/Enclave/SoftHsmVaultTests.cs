using System.Security.Cryptography;
using HsmVault.Enclave;
using HsmVault.Protocol.V1;
using HsmVault.Simulator.Pkcs11;
using HsmVault.Testing;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Tests.Enclave;

/// <summary>The vault's user-visible rules with the enclave running over a real SoftHSM2 token.</summary>
[TestClass]
public sealed class SoftHsmVaultTests
{
    private static Pkcs11Options? s_options;
    private static Pkcs11HsmServices? s_hsm;
    private static InMemoryVaultHost? s_host;

    private static InMemoryVaultHost Host => s_host ?? throw new InvalidOperationException("Class initialisation did not run.");

    [ClassInitialize]
    public static void StartVault(TestContext context)
    {
        s_options = SoftHsmSandbox.ForThisProcess.NewKeySet("enclave-vault");
        s_hsm = Pkcs11HsmServices.OpenOrProvision(s_options);
        var enclave = new VaultEnclave(s_hsm, VaultPolicy.Default);
        s_host = new InMemoryVaultHost(request => enclave.Handle(request));
    }

    [ClassCleanup]
    public static void StopVault() => s_hsm?.Dispose();

    [TestMethod]
    public void Recovering_with_the_right_password_returns_the_registered_key()
    {
        var user = new VaultTestUser(Host, "recover-alice");
        byte[] backupKey = RandomNumberGenerator.GetBytes(32);
        user.Register("correct horse", backupKey);

        byte[]? recovered = user.Recover("correct horse", out VaultResponse started, out VaultResponse finished);

        Assert.AreEqual(VaultResponse.ResultOneofCase.Recovered, finished.ResultCase, finished.ToString());
        Assert.IsNotNull(recovered);
        CollectionAssert.AreEqual(backupKey, recovered);
        Assert.IsFalse(started.LoginStarted.Ke2.Span.IndexOf(backupKey) >= 0, "KE2 does not carry the key in clear");
    }

    [TestMethod]
    public void Each_wrong_password_takes_one_attempt_away()
    {
        var user = new VaultTestUser(Host, "countdown-bob");
        user.Register("right", RandomNumberGenerator.GetBytes(32));
        Assert.AreEqual(10u, user.Status().Status.AttemptsLeft);

        for (uint expected = 9; expected >= 7; expected--)
        {
            Assert.IsNull(user.Recover("wrong", out _, out VaultResponse finished));
            Assert.AreEqual(ErrorCode.AuthFailed, finished.Error.Code, finished.ToString());
            Assert.AreEqual(expected, finished.Error.AttemptsLeft);
            Assert.AreEqual(expected, user.Status().Status.AttemptsLeft);
        }
    }

    [TestMethod]
    public void A_successful_recovery_resets_the_counter()
    {
        var user = new VaultTestUser(Host, "reset-carol");
        byte[] backupKey = RandomNumberGenerator.GetBytes(32);
        user.Register("right", backupKey);
        for (int i = 0; i < 4; i++)
        {
            Assert.IsNull(user.Recover("wrong"));
        }

        Assert.AreEqual(6u, user.Status().Status.AttemptsLeft);
        CollectionAssert.AreEqual(backupKey, user.Recover("right"));
        Assert.AreEqual(10u, user.Status().Status.AttemptsLeft);
    }

    [TestMethod]
    public void The_tenth_wrong_password_destroys_the_record_and_the_user_then_looks_unknown()
    {
        var user = new VaultTestUser(Host, "doomed-dave");
        user.Register("right", RandomNumberGenerator.GetBytes(32));
        VaultResponse last = new();
        for (int i = 0; i < VaultPolicy.DefaultAttemptLimit; i++)
        {
            Assert.IsNull(user.Recover("wrong", out _, out last));
        }

        Assert.AreEqual(ErrorCode.AuthFailed, last.Error.Code);
        Assert.AreEqual(0u, last.Error.AttemptsLeft);

        var unknown = new VaultTestUser(Host, "never-ed");
        AssertSameAnswer(unknown.Status(), user.Status());
        Assert.AreEqual(ErrorCode.NotRegistered, user.Status().Error.Code);

        Assert.IsNull(user.Recover("right", out VaultResponse destroyedStarted, out VaultResponse destroyedFinished), "not even the right password recovers a destroyed record");
        Assert.IsNull(unknown.Recover("right", out VaultResponse unknownStarted, out VaultResponse unknownFinished));
        Assert.AreEqual(VaultResponse.ResultOneofCase.LoginStarted, destroyedStarted.ResultCase, "a destroyed user still gets a (fake) KE2");
        Assert.AreEqual(unknownStarted.LoginStarted.Ke2.Length, destroyedStarted.LoginStarted.Ke2.Length);
        Assert.AreEqual(unknownStarted.LoginStarted.LoginSession.Length, destroyedStarted.LoginStarted.LoginSession.Length);
        AssertSameAnswer(unknownFinished, destroyedFinished);
        Assert.AreEqual(ErrorCode.AuthFailed, destroyedFinished.Error.Code);
    }

    [TestMethod]
    public void No_key_on_the_token_is_readable_after_the_vault_has_served_users()
    {
        var user = new VaultTestUser(Host, "keys-frank");
        user.Register("right", RandomNumberGenerator.GetBytes(32));
        Assert.IsNotNull(user.Recover("right"));

        // Pkcs11KeyProtectionTests checks each named key of a freshly provisioned token; this
        // checks every secret and private object present after real use that is this vault's or has
        // no label (a leftover derived ECDH value would have none). The token is shared with other
        // tests' key sets, some of which plant unprotected keys on purpose under their own prefixes.
        using var inspector = new TokenInspector(s_options!);
        List<(IObjectHandle Key, string Label)> keys =
        [
            .. inspector.Session.FindAllObjects([inspector.Attributes.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY)])
                .Concat(inspector.Session.FindAllObjects([inspector.Attributes.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY)]))
                .Select(key => (key, inspector.Read(key, CKA.CKA_LABEL).GetValueAsString() ?? string.Empty))
                .Where(key => key.Item2.Length == 0 || key.Item2.StartsWith(s_options!.KeyLabelPrefix + "-", StringComparison.Ordinal)),
        ];
        Assert.IsGreaterThanOrEqualTo(7, keys.Count, "record key, three HMAC keys, identity, AKE and channel keys");
        foreach ((IObjectHandle key, string label) in keys)
        {
            Assert.AreEqual(CKR.CKR_ATTRIBUTE_SENSITIVE, inspector.GetAttributeReturnValue(key, CKA.CKA_VALUE), label);
            Assert.IsFalse(inspector.Read(key, CKA.CKA_EXTRACTABLE).GetValueAsBool(), label);
        }
    }

    private static void AssertSameAnswer(VaultResponse expected, VaultResponse actual) => Assert.AreEqual(expected, actual);
}
