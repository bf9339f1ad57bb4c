using System.Net;
using HsmVault.Client.Transparency;
using HsmVault.Operator;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;
using HsmVault.Transparency.Tests;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Witness.Tests;

/// <summary>The operator's key in a SoftHSM2 token: made there, unable to leave, and what it signs is what clients and auditors accept.</summary>
[TestClass]
public sealed class OperatorTokenTests
{
    private const string Ns = "fleet-test";

    [TestMethod]
    public async Task The_operator_key_is_made_in_the_token_and_can_never_leave_it()
    {
        OperatorTokenSandbox sandbox = OperatorTokenSandbox.ForThisProcess;
        string label = OperatorTokenSandbox.NewKeyLabel("operator");
        string publicFile = Path.Combine(sandbox.Directory, $"{label}.pub");
        (int code, string output, string error) = await OperatorAsync(["init-key", .. sandbox.TokenArguments(label), "--out", publicFile]);
        Assert.AreEqual(0, code, error);
        OperatorKey printed = OperatorKey.Parse(output);
        Assert.AreEqual(printed.ToString(), OperatorKey.Parse(File.ReadAllText(publicFile)).ToString());

        using (var factories = new Inspector(sandbox))
        {
            IObjectHandle key = factories.Find(CKO.CKO_PRIVATE_KEY, label);
            Assert.IsTrue(factories.Bool(key, CKA.CKA_SENSITIVE), "sensitive");
            Assert.IsFalse(factories.Bool(key, CKA.CKA_EXTRACTABLE), "not extractable");
            Assert.IsTrue(factories.Bool(key, CKA.CKA_NEVER_EXTRACTABLE), "never extractable");
            Assert.IsTrue(factories.Bool(key, CKA.CKA_ALWAYS_SENSITIVE), "always sensitive");
            Assert.IsTrue(factories.Bool(key, CKA.CKA_TOKEN), "a token object");
            Assert.IsTrue(factories.Bool(key, CKA.CKA_PRIVATE), "private");
            Assert.IsTrue(factories.Bool(key, CKA.CKA_SIGN), "signs");
            Assert.IsFalse(factories.Bool(key, CKA.CKA_DERIVE), "derives nothing");
            Assert.IsFalse(factories.CanRead(key, CKA.CKA_VALUE), "the private value cannot be read");
            Assert.AreEqual(CKR.CKR_KEY_UNEXTRACTABLE, factories.TryWrap(key), "it cannot be wrapped out");
            Assert.AreNotEqual(CKR.CKR_OK, factories.TrySet(key, CKA.CKA_EXTRACTABLE, true), "it cannot be made extractable");
        }

        (int again, _, string refused) = await OperatorAsync(["init-key", .. sandbox.TokenArguments(label)]);
        Assert.AreEqual(2, again);
        StringAssert.Contains(refused, "already holds a key labelled");
        (int pub, string shown, _) = await OperatorAsync(["public-key", .. sandbox.TokenArguments(label)]);
        Assert.AreEqual(0, pub);
        Assert.AreEqual(printed.ToString(), shown.Trim());
    }

    [TestMethod]
    public async Task An_epoch_published_with_the_token_is_accepted_by_a_client_and_passes_an_audit()
    {
        OperatorTokenSandbox sandbox = OperatorTokenSandbox.ForThisProcess;
        string label = OperatorTokenSandbox.NewKeyLabel("publish");
        OperatorKey operatorKey;
        using (OperatorToken token = OperatorToken.Generate(sandbox.Options(label)))
        {
            operatorKey = token.PublicKey;
        }

        await using TestWitness witness = await TestWitness.StartAsync(configure: o => o with { OperatorKey = operatorKey });
        string vkey = witness.Server.Log.VerifierKey.ToString();
        FleetKeySet fleet = TestLog.NewFleet("fleet-a");
        string fleetFile = Path.Combine(sandbox.Directory, $"{label}-fleet.json");
        File.WriteAllText(fleetFile, fleet.ToFileText());
        string[] publish = ["publish", .. sandbox.TokenArguments(label), "--witness", witness.Address.AbsoluteUri, "--witness-key", vkey, "--namespace", Ns, "--fleet-keys", fleetFile];

        (int code, string output, string error) = await OperatorAsync([.. publish, "--epoch", "1"]);
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "published fleet-test epoch 1");
        var trust = new TransparencyTrust(Ns, witness.Server.Log.VerifierKey, operatorKey);
        BundleVerdict verdict = new ValidationBundleVerifier(trust).Verify(await witness.GetAsync(LogPaths.Bundle(Ns)), fleet.ChannelPublicKey, null);
        Assert.IsInstanceOfType<BundleAccepted>(verdict, verdict.Describe());

        (int stale, _, string refused) = await OperatorAsync([.. publish, "--epoch", "1"]);
        Assert.AreEqual(0, stale, "the same epoch and file again is answered with the logged entry: " + refused);
        FleetKeySet other = TestLog.NewFleet("fleet-b");
        File.WriteAllText(fleetFile, other.ToFileText());
        (int conflict, _, string conflictError) = await OperatorAsync([.. publish, "--epoch", "1"]);
        Assert.AreEqual(4, conflict, conflictError);
        StringAssert.Contains(conflictError, "does not increase");

        // A publish cut short after the append: the entry waits for its counter-signature.
        using (OperatorToken token = OperatorToken.Open(sandbox.Options(label)))
        {
            (HttpStatusCode appended, string body) = await witness.PostAppendAsync(Ns, 2, other, token.SignAppendRequest(new EpochStatement(Ns, 2, other.Digest)));
            Assert.AreEqual(HttpStatusCode.Created, appended, body);
        }

        Assert.IsNull(WitnessLogEntry.Parse(await witness.GetAsync(LogPaths.EntryOfEpoch(Ns, 2))).CounterSignature);
        string[] counterSign = ["counter-sign", .. sandbox.TokenArguments(label), "--witness", witness.Address.AbsoluteUri, "--witness-key", vkey, "--namespace", Ns, "--fleet-keys", fleetFile, "--epoch", "2"];
        (int signed, _, string signError) = await OperatorAsync(counterSign);
        Assert.AreEqual(0, signed, signError);

        var console = new StringWriter();
        var errors = new StringWriter();
        int audit = await HsmVault.Cli.HsmVaultCli.RunAsync(
            ["audit", "--log", witness.Address.AbsoluteUri, "--namespace", Ns, "--witness-key", vkey, "--operator-key", operatorKey.ToString()],
            new HsmVault.Cli.CliConsole(new StringReader(string.Empty), console, errors, false, () => null, _ => null));
        Assert.AreEqual(0, audit, errors.ToString());
        StringAssert.Contains(console.ToString(), "fleet id fleet-a \u2192 fleet-b");
    }

    [TestMethod]
    public async Task The_operator_counter_signs_nothing_the_pinned_witness_did_not_sign()
    {
        OperatorTokenSandbox sandbox = OperatorTokenSandbox.ForThisProcess;
        string label = OperatorTokenSandbox.NewKeyLabel("pinned");
        OperatorKey operatorKey;
        using (OperatorToken token = OperatorToken.Generate(sandbox.Options(label)))
        {
            operatorKey = token.PublicKey;
        }

        await using TestWitness witness = await TestWitness.StartAsync(configure: o => o with { OperatorKey = operatorKey });
        using NoteSigningKey otherWitness = NoteSigningKey.Generate(WitnessOptions.DefaultName, NoteSignatureType.Ed25519);
        string fleetFile = Path.Combine(sandbox.Directory, $"{label}-fleet.json");
        File.WriteAllText(fleetFile, TestLog.NewFleet("fleet-a").ToFileText());
        (int code, _, string error) = await OperatorAsync(["publish", .. sandbox.TokenArguments(label), "--witness", witness.Address.AbsoluteUri, "--witness-key", otherWitness.Verifier.ToString(), "--namespace", Ns, "--fleet-keys", fleetFile, "--epoch", "1"]);
        Assert.AreEqual(3, code, error);
        StringAssert.Contains(error, "does not verify under");
        Assert.IsNull(WitnessLogEntry.Parse(await witness.GetAsync(LogPaths.Entry(Ns, 0))).CounterSignature, "nothing was counter-signed");
    }

    [TestMethod]
    [DataRow("not an entry at all")]
    [DataRow("{\"index\": 0}")]
    public async Task A_witness_answering_a_counter_signature_with_garbage_is_a_witness_error_not_an_input_error(string garbage)
    {
        OperatorTokenSandbox sandbox = OperatorTokenSandbox.ForThisProcess;
        string label = OperatorTokenSandbox.NewKeyLabel("garbage");
        using OperatorToken token = OperatorToken.Generate(sandbox.Options(label));
        await using TestWitness witness = await TestWitness.StartAsync(configure: o => o with { OperatorKey = token.PublicKey });
        using var http = new HttpClient(new GarbleCounterSignature(garbage) { InnerHandler = new HttpClientHandler() });
        var publisher = new EpochPublisher(http, witness.Address, witness.Server.Log.VerifierKey, token);

        WitnessAnswerException refused = await Assert.ThrowsExactlyAsync<WitnessAnswerException>(
            () => publisher.PublishAsync(Ns, 1, TestLog.NewFleet("fleet-a"), CancellationToken.None));

        StringAssert.Contains(refused.Message, "the counter-signature answered something that is not an entry");
    }

    // A witness (or what stands between it and the operator) that answers the counter-signature POST 200 with garbage.
    private sealed class GarbleCounterSignature(string garbage) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            HttpResponseMessage response = await base.SendAsync(request, cancellationToken);
            if (request.RequestUri!.AbsolutePath.EndsWith("/counter-signature", StringComparison.Ordinal))
            {
                response.Dispose();
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(garbage) };
            }

            return response;
        }
    }

    [TestMethod]
    public void A_key_that_could_leave_the_token_is_refused_whatever_its_label()
    {
        OperatorTokenSandbox sandbox = OperatorTokenSandbox.ForThisProcess;
        string label = OperatorTokenSandbox.NewKeyLabel("weak");
        using (var inspector = new Inspector(sandbox))
        {
            inspector.GenerateExtractableEcKeyPair(label);
        }

        var error = Assert.ThrowsExactly<OperatorTokenException>(() => OperatorToken.Open(sandbox.Options(label)).Dispose());
        StringAssert.Contains(error.Message, "never extractable; refusing to use it");
        Assert.ThrowsExactly<OperatorTokenException>(() => OperatorToken.Open(sandbox.Options("no-such-key")).Dispose());
    }

    private static async Task<(int Code, string Out, string Error)> OperatorAsync(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await OperatorCommandLine.RunAsync(args, output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>A session of the test's own on the operator token, to look at keys the way an auditor of the HSM would.</summary>
    private sealed class Inspector : IDisposable
    {
        private readonly Pkcs11InteropFactories _factories = new();
        private readonly IPkcs11Library _library;
        private readonly ISession _session;

        public Inspector(OperatorTokenSandbox sandbox)
        {
            _library = _factories.Pkcs11LibraryFactory.LoadPkcs11Library(_factories, sandbox.LibraryPath, AppType.MultiThreaded);
            ISlot slot = _library.GetSlotList(SlotsType.WithTokenPresent).Single(s => s.GetTokenInfo().Label.TrimEnd(' ', '\0') == OperatorTokenSandbox.TokenLabel);
            _session = slot.OpenSession(SessionType.ReadWrite);
            _session.Login(CKU.CKU_USER, File.ReadAllText(sandbox.PinFile).Trim());
        }

        public IObjectHandle Find(CKO kind, string label) =>
            _session.FindAllObjects([_factories.ObjectAttributeFactory.Create(CKA.CKA_CLASS, kind), _factories.ObjectAttributeFactory.Create(CKA.CKA_LABEL, label)]).Single();

        public bool Bool(IObjectHandle key, CKA attribute) => _session.GetAttributeValue(key, [attribute])[0].GetValueAsBool();

        public bool CanRead(IObjectHandle key, CKA attribute)
        {
            try
            {
                return !_session.GetAttributeValue(key, [attribute])[0].CannotBeRead;
            }
            catch (Pkcs11Exception)
            {
                return false;
            }
        }

        public CKR TryWrap(IObjectHandle key)
        {
            using IMechanism generate = _factories.MechanismFactory.Create(CKM.CKM_AES_KEY_GEN);
            IObjectHandle wrapping = _session.GenerateKey(generate,
            [
                _factories.ObjectAttributeFactory.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_VALUE_LEN, 32UL),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_TOKEN, false),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_WRAP, true),
            ]);
            try
            {
                using IMechanism wrap = _factories.MechanismFactory.Create(CKM.CKM_AES_KEY_WRAP_PAD);
                _session.WrapKey(wrap, wrapping, key);
                return CKR.CKR_OK;
            }
            catch (Pkcs11Exception ex)
            {
                return ex.RV;
            }
        }

        public CKR TrySet(IObjectHandle key, CKA attribute, bool value)
        {
            try
            {
                _session.SetAttributeValue(key, [_factories.ObjectAttributeFactory.Create(attribute, value)]);
                return CKR.CKR_OK;
            }
            catch (Pkcs11Exception ex)
            {
                return ex.RV;
            }
        }

        public void GenerateExtractableEcKeyPair(string label)
        {
            using IMechanism mechanism = _factories.MechanismFactory.Create(CKM.CKM_EC_KEY_PAIR_GEN);
            _session.GenerateKeyPair(mechanism,
            [
                _factories.ObjectAttributeFactory.Create(CKA.CKA_TOKEN, true),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_EC_PARAMS, new byte[] { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 }),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_VERIFY, true),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_LABEL, label),
            ],
            [
                _factories.ObjectAttributeFactory.Create(CKA.CKA_TOKEN, true),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_PRIVATE, true),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_SENSITIVE, false),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_EXTRACTABLE, true),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_SIGN, true),
                _factories.ObjectAttributeFactory.Create(CKA.CKA_LABEL, label),
            ],
            out _,
            out _);
        }

        public void Dispose()
        {
            try
            {
                _session.Logout();
            }
            catch (Pkcs11Exception)
            {
            }

            _session.Dispose();
            _library.Dispose();
        }
    }
}
