using Google.Protobuf;
using HsmVault.Protocol.V1;
using HsmVault.Testing;

namespace HsmVault.Enclave.Tests.Vault;

[TestClass]
public sealed class BadInputTests
{
    private static readonly byte[] Blob = new byte[40];

    [TestMethod]
    public void Random_bytes_get_a_typed_answer_and_never_change_state()
    {
        var vault = new TestVault(40);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        StateReport before = vault.State();
        var rng = new Random(40);
        for (int i = 0; i < 2000; i++)
        {
            byte[] junk = new byte[rng.Next(0, 300)];
            rng.NextBytes(junk);
            EnclaveResponse response = EnclaveResponse.Parser.ParseFrom(vault.Enclave.Handle(junk));
            Assert.AreNotEqual(EnclaveResponse.KindOneofCase.None, response.KindCase);
            if (response.KindCase == EnclaveResponse.KindOneofCase.Error)
            {
                Assert.AreNotEqual(EnclaveErrorCode.EnclaveInternal, response.Error.Code, response.Error.Message);
            }
        }

        Assert.AreEqual(before, vault.State(), "junk never commits anything");
        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void Every_truncation_of_a_valid_request_gets_a_typed_answer_and_no_extra_guess()
    {
        var vault = new TestVault(41);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        var batch = new Batch();
        batch.Operations.Add(vault.OperationFor(alice.LoginStartRequest("guess", out _)));
        byte[] request = new EnclaveRequest { Batch = batch }.ToByteArray();

        int guessesCounted = 0;
        for (int length = 0; length < request.Length; length++)
        {
            var response = EnclaveResponse.Parser.ParseFrom(vault.Enclave.Handle(request.AsSpan(0, length)));
            Assert.AreNotEqual(EnclaveResponse.KindOneofCase.None, response.KindCase);
            if (response.Batch?.Entry is not null)
            {
                guessesCounted++;
                vault.Apply(response.Batch);
            }
        }

        // A prefix that still parses may carry a whole, valid witness and KE1; it can count at most
        // the one guess the full request would, and only while the witness is current.
        Assert.IsTrue(guessesCounted <= 1, $"{guessesCounted} guesses counted");
        Assert.AreEqual((uint)(10 - guessesCounted), alice.AttemptsLeft());
    }

    [TestMethod]
    public void An_oversized_request_is_refused_before_parsing()
    {
        var vault = new TestVault(42);
        EnclaveResponse response = EnclaveResponse.Parser.ParseFrom(vault.Enclave.Handle(new byte[VaultPolicy.Default.MaxRequestBytes + 1]));
        Assert.AreEqual(EnclaveErrorCode.RequestTooLarge, response.Error.Code);
    }

    [TestMethod]
    public void A_batch_above_the_policy_limit_is_refused_whole()
    {
        var vault = new TestVault(43, new VaultPolicy(MaxBatchOperations: 2));
        var alice = new TestUser(vault, "alice");
        var ops = Enumerable.Range(0, 3).Select(_ => vault.OperationFor(alice.StatusRequest()));
        var refused = Assert.ThrowsExactly<EnclaveRefusedException>(() => vault.Submit(ops));
        Assert.AreEqual(EnclaveErrorCode.BatchTooLarge, refused.Error.Code);
    }

    [TestMethod]
    public void An_empty_request_or_client_request_is_a_typed_error()
    {
        var vault = new TestVault(44);
        Assert.AreEqual(EnclaveErrorCode.MalformedRequest, vault.Enclave.Handle(new EnclaveRequest()).Error.Code);

        ClientResponse response = vault.SendRaw(new ClientRequest { RequestId = 9 });
        Assert.AreEqual(ErrorCode.BadRequest, response.Error.Code);
        Assert.AreEqual(ClientRequest.UserIdField, response.Error.Field);
        Assert.AreEqual(9ul, response.RequestId);

        VaultResponse empty = vault.Send(UserRequest.For("alice", new VaultRequest()));
        Assert.AreEqual(ErrorCode.BadRequest, empty.Error.Code, "a sealed request with no operation");
        Assert.AreEqual("operation", empty.Error.Field);
    }

    [TestMethod]
    public void A_batch_before_initialisation_is_refused()
    {
        var enclave = new VaultEnclave(new Simulator.InMemoryHsmServices(45), VaultPolicy.Default);
        EnclaveResponse response = enclave.Handle(new EnclaveRequest { Batch = new Batch() });
        Assert.AreEqual(EnclaveErrorCode.NotInitialized, response.Error.Code);
    }

    [TestMethod]
    public void Corrupt_nvram_makes_the_enclave_refuse_service()
    {
        var hsm = new Simulator.InMemoryHsmServices(46);
        hsm.WriteNvram([1, 2, 3]);
        var enclave = new VaultEnclave(hsm, VaultPolicy.Default);
        Assert.AreEqual(EnclaveErrorCode.NvramCorrupt, enclave.Handle(new EnclaveRequest { Initialize = new InitializeRequest() }).Error.Code);
        Assert.AreEqual(EnclaveErrorCode.NvramCorrupt, enclave.Handle(new EnclaveRequest { Batch = new Batch() }).Error.Code);
    }

    [TestMethod]
    public void A_missing_user_id_or_an_unopenable_request_is_a_clear_error_naming_the_field()
    {
        var vault = new TestVault(47);
        using SealedRequest sealedRequest = vault.Seal(UserRequest.For("alice", new VaultRequest { Status = new StatusQuery() }));
        ClientRequest good = sealedRequest.Request;
        var cases = new (ClientRequest Request, string Field)[]
        {
            (new ClientRequest(good) { UserId = ByteString.Empty }, ClientRequest.UserIdField),
            (new ClientRequest(good) { EncapsulatedKey = ByteString.Empty }, ClientRequest.SealedRequestField),
            (new ClientRequest(good) { EncapsulatedKey = ByteString.CopyFrom(new byte[65]) }, ClientRequest.SealedRequestField),
            (new ClientRequest(good) { SealedRequest = ByteString.Empty }, ClientRequest.SealedRequestField),
            (new ClientRequest(good) { SealedRequest = ByteString.CopyFrom(good.SealedRequest.Span[..^1]) }, ClientRequest.SealedRequestField),
        };
        foreach (var (request, field) in cases)
        {
            OperationResult result = vault.SubmitOne(vault.OperationFor(request));
            Assert.AreEqual(OperationOutcome.OutcomeClientError, result.Outcome, field);
            Assert.AreEqual(ClientResponse.ResultOneofCase.Error, result.Client.ResultCase, "a request that did not open is answered in the clear");
            Assert.AreEqual(ErrorCode.BadRequest, result.Client.Error.Code, field);
            Assert.AreEqual(field, result.Client.Error.Field);
        }

        OperationResult genuine = vault.SubmitOne(vault.OperationFor(good));
        Assert.AreEqual(ClientResponse.ResultOneofCase.SealedResponse, genuine.Client.ResultCase);
        Assert.AreEqual(ErrorCode.NotRegistered, sealedRequest.Open(genuine.Client, acceptClear: false).Error.Code);
    }

    [TestMethod]
    public void A_malformed_ke1_is_a_bad_request_and_counts_no_guess()
    {
        var vault = new TestVault(48);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        foreach (byte[] ke1 in new[] { Array.Empty<byte>(), new byte[10], new byte[96], Enumerable.Repeat((byte)0xFF, 96).ToArray() })
        {
            VaultResponse response = vault.Send(new UserRequest(alice.UserId, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(ke1) } }));
            Assert.AreEqual(ErrorCode.BadRequest, response.Error.Code, $"KE1 of {ke1.Length} bytes");
            Assert.AreEqual("login_start.ke1", response.Error.Field);
        }

        Assert.AreEqual(10u, alice.AttemptsLeft());
    }

    [TestMethod]
    public void Malformed_registration_fields_are_named()
    {
        var vault = new TestVault(49);
        var alice = new TestUser(vault, "alice");
        VaultResponse bad = vault.Send(new UserRequest(alice.UserId, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(new byte[3]) } }));
        Assert.AreEqual("register_start.registration_request", bad.Error.Field);

        VaultResponse started = vault.Send(alice.RegisterStartRequest("pw", out var state));
        UserRequest finish = alice.RegisterFinishRequest(state, started.RegisterStarted, Blob);

        UserRequest tooLarge = finish with { Request = finish.Request.Clone() };
        tooLarge.Request.RegisterFinish.EncryptedKeyBlob = ByteString.CopyFrom(new byte[VaultPolicy.Default.MaxKeyBlobBytes + 1]);
        Assert.AreEqual(ErrorCode.TooLarge, vault.Send(tooLarge).Error.Code);

        UserRequest badRecord = finish with { Request = finish.Request.Clone() };
        badRecord.Request.RegisterFinish.RegistrationRecord = ByteString.CopyFrom(new byte[7]);
        Assert.AreEqual("register_finish.registration_record", vault.Send(badRecord).Error.Field);

        UserRequest badSession = finish with { Request = finish.Request.Clone() };
        badSession.Request.RegisterFinish.RegistrationSession = ByteString.CopyFrom(new byte[40]);
        Assert.AreEqual("register_finish.registration_session", vault.Send(badSession).Error.Field);

        UserRequest noAction = alice.LoginFinishRequest(ByteString.Empty, new byte[32], LoginAction.Unspecified);
        Assert.AreEqual("login_finish.action", vault.Send(noAction).Error.Field);

        Assert.AreEqual(VaultResponse.ResultOneofCase.Registered, vault.Send(finish).ResultCase, "the untampered upload still works");
    }

    [TestMethod]
    public void An_overlong_user_id_is_too_large()
    {
        var vault = new TestVault(50);
        ClientResponse response = vault.SendRaw(new ClientRequest
        {
            UserId = ByteString.CopyFrom(new byte[VaultPolicy.Default.MaxUserIdBytes + 1]),
            EncapsulatedKey = ByteString.CopyFrom(new byte[65]),
            SealedRequest = ByteString.CopyFrom(new byte[32]),
        });
        Assert.AreEqual(ErrorCode.TooLarge, response.Error.Code);
        Assert.AreEqual(ClientRequest.UserIdField, response.Error.Field);
    }

    [TestMethod]
    public void Bit_flipped_requests_never_fail_the_enclave_and_count_at_most_the_one_guess()
    {
        var vault = new TestVault(51);
        var alice = new TestUser(vault, "alice");
        alice.Register("right", Blob);
        new TestUser(vault, "bob").Register("x", Blob);
        new TestUser(vault, "carol").Register("x", Blob);
        var batch = new Batch();
        batch.Operations.Add(vault.OperationFor(alice.LoginStartRequest("guess", out _)));
        byte[] request = new EnclaveRequest { Batch = batch }.ToByteArray();

        var rng = new Random(51);
        int committed = 0;
        for (int i = 0; i < 1500; i++)
        {
            byte[] mutated = (byte[])request.Clone();
            for (int flips = rng.Next(1, 4); flips > 0; flips--)
            {
                mutated[rng.Next(mutated.Length)] ^= (byte)(1 << rng.Next(8));
            }

            EnclaveResponse response = EnclaveResponse.Parser.ParseFrom(vault.Enclave.Handle(mutated));
            if (response.KindCase == EnclaveResponse.KindOneofCase.Error)
            {
                Assert.AreNotEqual(EnclaveErrorCode.EnclaveInternal, response.Error.Code, response.Error.Message);
            }
            else if (response.Batch?.Entry is not null)
            {
                committed++;
                vault.Apply(response.Batch);
            }
        }

        // Once one mutation counts a guess, the witness inside every later one is stale.
        Assert.IsTrue(committed <= 1, $"{committed} batches committed");
        Assert.AreEqual((uint)(10 - committed), alice.AttemptsLeft());
    }
}
