using System.Net;
using System.Net.Sockets;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.V1;
using static HsmVault.Client.Tests.TestClients;

namespace HsmVault.Client.Tests;

[TestClass]
public sealed class VaultClientTests
{
    [TestMethod]
    public async Task Register_then_recover_gives_back_the_same_key()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);

        Assert.IsInstanceOfType<UserRegistered>(await client.RegisterAsync("alice", Password("correct horse"), Key(0x42)));
        VaultOutcome outcome = await client.RecoverAsync("alice", Password("correct horse"));

        var recovered = Assert.IsInstanceOfType<KeyRecovered>(outcome);
        CollectionAssert.AreEqual(Key(0x42), recovered.Key);
    }

    [TestMethod]
    public async Task Register_and_recover_with_the_default_argon2id_ksf()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault, Argon2idKsf.SecondRecommended);

        Assert.IsInstanceOfType<UserRegistered>(await client.RegisterAsync("alice", Password("pw"), Key(0x07)));
        var recovered = Assert.IsInstanceOfType<KeyRecovered>(await client.RecoverAsync("alice", Password("pw")));

        CollectionAssert.AreEqual(Key(0x07), recovered.Key);
    }

    [TestMethod]
    public async Task Recover_with_a_different_ksf_than_registration_is_a_wrong_password()
    {
        await using var vault = new FakeVault();
        await using (var identity = For(vault))
        {
            await identity.RegisterAsync("alice", Password("pw"), Key(1));
        }

        await using var scrypt = For(vault, new ScryptKsf(16, 1, 1));
        Assert.IsInstanceOfType<WrongPassword>(await scrypt.RecoverAsync("alice", Password("pw")));
    }

    [TestMethod]
    public async Task The_uploaded_blob_does_not_contain_the_key()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);

        await client.RegisterAsync("alice", Password("pw"), Key(0x42));

        byte[] blob = vault.StoredBlob("alice")!;
        Assert.AreEqual(32 + KeyBlobCipher.Overhead, blob.Length);
        Assert.AreEqual(-1, blob.AsSpan().IndexOf(Key(0x42).AsSpan(0, 8)));
    }

    [TestMethod]
    public async Task Wrong_password_reports_the_attempts_left_from_the_vault()
    {
        await using var vault = new FakeVault(attemptLimit: 10);
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("right"), Key(1));

        var first = Assert.IsInstanceOfType<WrongPassword>(await client.RecoverAsync("alice", Password("wrong")));
        var second = Assert.IsInstanceOfType<WrongPassword>(await client.RecoverAsync("alice", Password("wrong")));

        Assert.AreEqual(9u, first.AttemptsLeft);
        Assert.AreEqual(8u, second.AttemptsLeft);
        Assert.AreEqual("wrong password: 8 attempts left", second.Describe());
    }

    [TestMethod]
    public async Task Successful_recovery_resets_the_guess_counter()
    {
        await using var vault = new FakeVault(attemptLimit: 3);
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("right"), Key(1));
        await client.RecoverAsync("alice", Password("wrong"));

        Assert.IsInstanceOfType<KeyRecovered>(await client.RecoverAsync("alice", Password("right")));

        var status = Assert.IsInstanceOfType<StatusReported>(await client.StatusAsync("alice"));
        Assert.AreEqual(3u, status.AttemptsLeft);
        Assert.AreEqual(3u, status.AttemptLimit);
    }

    [TestMethod]
    public async Task The_last_wrong_guess_and_an_unknown_user_both_read_as_no_record()
    {
        await using var vault = new FakeVault(attemptLimit: 2);
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("right"), Key(1));

        Assert.IsInstanceOfType<WrongPassword>(await client.RecoverAsync("alice", Password("wrong")));
        Assert.IsInstanceOfType<NoRecord>(await client.RecoverAsync("alice", Password("wrong")));
        Assert.IsInstanceOfType<NoRecord>(await client.RecoverAsync("alice", Password("right")));
        Assert.IsInstanceOfType<NoRecord>(await client.RecoverAsync("nobody", Password("anything")));
        Assert.IsInstanceOfType<NoRecord>(await client.StatusAsync("alice"));
    }

    [TestMethod]
    public async Task Delete_with_the_right_password_removes_the_record()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("pw"), Key(1));

        Assert.IsInstanceOfType<UserDeleted>(await client.DeleteAsync("alice", Password("pw")));

        Assert.IsNull(vault.AttemptsUsed("alice"));
        Assert.IsInstanceOfType<NoRecord>(await client.RecoverAsync("alice", Password("pw")));
    }

    [TestMethod]
    public async Task Delete_with_a_wrong_password_keeps_the_record_and_counts_the_guess()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("pw"), Key(1));

        var wrong = Assert.IsInstanceOfType<WrongPassword>(await client.DeleteAsync("alice", Password("nope")));

        Assert.AreEqual(9u, wrong.AttemptsLeft);
        Assert.AreEqual(1u, vault.AttemptsUsed("alice"));
    }

    [TestMethod]
    public async Task Registration_against_another_fleet_uploads_nothing()
    {
        await using var vault = new FakeVault();
        await using var other = new FakeVault();
        await using var client = new VaultClient(OptionsFor(vault) with { FleetKeys = other.FleetKeys });

        var refused = Assert.IsInstanceOfType<FleetNotAuthenticated>(await client.RegisterAsync("alice", Password("pw"), Key(1)));

        StringAssert.Contains(refused.Detail, "channel key");
        Assert.AreEqual(0, vault.RegisterFinishCount);
        Assert.AreEqual(1, vault.RequestCount, "nothing after the refused start");
    }

    [TestMethod]
    public async Task Recovery_against_another_fleet_spends_no_guess()
    {
        await using var vault = new FakeVault();
        await using var other = new FakeVault();
        await using (var honest = For(vault))
        {
            await honest.RegisterAsync("alice", Password("pw"), Key(1));
        }

        await using var client = new VaultClient(OptionsFor(vault) with { FleetKeys = other.FleetKeys });

        Assert.IsInstanceOfType<FleetNotAuthenticated>(await client.RecoverAsync("alice", Password("pw")));
        Assert.AreEqual(0, vault.LoginStartCount);
        Assert.AreEqual(0u, vault.AttemptsUsed("alice"));
    }

    [TestMethod]
    public async Task A_wrong_guess_whose_session_went_stale_is_still_reported_with_the_count()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("pw"), Key(1));
        vault.Intercept = (_, request) => request.OperationCase == VaultRequest.OperationOneofCase.LoginFinish
            ? FakeVault.ErrorResponse(ErrorCode.Stale, "login_finish.login_session", 0)
            : null;

        var wrong = Assert.IsInstanceOfType<WrongPassword>(await client.RecoverAsync("alice", Password("not pw")));
        Assert.AreEqual(9u, wrong.AttemptsLeft);

        // With the right password a stale session is a conflict to retry, not a wrong password.
        Assert.IsInstanceOfType<Conflict>(await client.RecoverAsync("alice", Password("pw")));
    }

    [TestMethod]
    public async Task A_closed_port_is_unavailable()
    {
        await using var vault = new FakeVault();
        var options = OptionsFor(vault) with { Port = ClosedPort() };
        await using var client = new VaultClient(options);

        var unavailable = Assert.IsInstanceOfType<Unavailable>(await client.StatusAsync("alice"));
        StringAssert.Contains(unavailable.Detail, "cannot connect");
    }

    [TestMethod]
    public async Task A_server_that_never_answers_times_out_as_unavailable()
    {
        var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        try
        {
            await using var keys = new FakeVault();
            var options = new VaultClientOptions("127.0.0.1", ((IPEndPoint)silent.LocalEndpoint).Port, keys.FleetKeys)
            {
                Ksf = IdentityKsf.Instance,
                RequestTimeout = TimeSpan.FromMilliseconds(300),
            };
            await using var client = new VaultClient(options);

            var unavailable = Assert.IsInstanceOfType<Unavailable>(await client.StatusAsync("alice"));
            StringAssert.Contains(unavailable.Detail, "no answer");
        }
        finally
        {
            silent.Stop();
        }
    }

    [TestMethod]
    public async Task A_tampered_recovered_blob_is_a_protocol_error_not_a_wrong_key()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("pw"), Key(1));
        vault.TamperRecovered = true;

        var error = Assert.IsInstanceOfType<ProtocolError>(await client.RecoverAsync("alice", Password("pw")));
        StringAssert.Contains(error.Detail, "recovered.sealed_key_blob");
    }

    [TestMethod]
    public async Task A_blob_stored_for_another_user_does_not_open()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("pw"), Key(1));
        await client.RegisterAsync("bob", Password("pw"), Key(2));
        byte[] bobBlob = vault.StoredBlob("bob")!;
        vault.Opened = (user, request) =>
        {
            if (request.RegisterFinish is { } finish && user == "alice")
            {
                finish.EncryptedKeyBlob = Google.Protobuf.ByteString.CopyFrom(bobBlob);
            }
        };
        await client.RegisterAsync("alice", Password("pw"), Key(1));

        var error = Assert.IsInstanceOfType<ProtocolError>(await client.RecoverAsync("alice", Password("pw")));
        StringAssert.Contains(error.Detail, "encrypted key blob");
    }

    [TestMethod]
    [DataRow(ErrorCode.Unavailable, typeof(Unavailable))]
    [DataRow(ErrorCode.Busy, typeof(Unavailable))]
    [DataRow(ErrorCode.Internal, typeof(Unavailable))]
    [DataRow(ErrorCode.Locked, typeof(RateLimited))]
    [DataRow(ErrorCode.Stale, typeof(Conflict))]
    [DataRow(ErrorCode.BadRequest, typeof(ProtocolError))]
    [DataRow(ErrorCode.TooLarge, typeof(ProtocolError))]
    [DataRow(ErrorCode.Unspecified, typeof(ProtocolError))]
    [DataRow(ErrorCode.NotRegistered, typeof(NoRecord))]
    public async Task Server_errors_map_to_the_outcome_a_caller_acts_on(ErrorCode code, Type expected)
    {
        await using var vault = new FakeVault();
        vault.Intercept = (_, _) => FakeVault.ErrorResponse(code, "some.field", 0);
        await using var client = For(vault);

        VaultOutcome register = await client.RegisterAsync("alice", Password("pw"), Key(1));
        VaultOutcome recover = await client.RecoverAsync("alice", Password("pw"));
        VaultOutcome status = await client.StatusAsync("alice");

        Assert.IsInstanceOfType(register, expected);
        Assert.IsInstanceOfType(recover, expected);
        Assert.IsInstanceOfType(status, expected);
    }

    [TestMethod]
    public void Every_error_code_has_a_deliberate_mapping()
    {
        foreach (ErrorCode code in Enum.GetValues<ErrorCode>())
        {
            VaultOutcome outcome = VaultClient.FromError(new Error { Code = code, AttemptsLeft = 4 });
            Type expected = code switch
            {
                ErrorCode.AuthFailed => typeof(WrongPassword),
                ErrorCode.NotRegistered => typeof(NoRecord),
                ErrorCode.Locked => typeof(RateLimited),
                ErrorCode.Stale => typeof(Conflict),
                ErrorCode.Unavailable or ErrorCode.Busy or ErrorCode.Internal => typeof(Unavailable),
                _ => typeof(ProtocolError),
            };
            Assert.IsInstanceOfType(outcome, expected, code.ToString());
        }
    }

    [TestMethod]
    public async Task An_answer_of_the_wrong_type_is_a_protocol_error()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        vault.Intercept = (_, _) => new VaultResponse { Registered = new Registered() };
        var error = Assert.IsInstanceOfType<ProtocolError>(await client.StatusAsync("alice"));
        StringAssert.Contains(error.Detail, "expected status");
    }

    [TestMethod]
    public async Task A_malformed_ke2_is_a_protocol_error()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("pw"), Key(1));
        vault.Intercept = (_, request) => request.LoginStart is null
            ? null
            : new VaultResponse { LoginStarted = new LoginStarted { Ke2 = Google.Protobuf.ByteString.CopyFrom(new byte[10]), LoginSession = Google.Protobuf.ByteString.CopyFromUtf8("s") } };

        var error = Assert.IsInstanceOfType<ProtocolError>(await client.RecoverAsync("alice", Password("pw")));
        StringAssert.Contains(error.Detail, "ke2");
    }

    [TestMethod]
    public async Task Bad_arguments_are_rejected_before_anything_is_sent()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);

        var shortKey = await Assert.ThrowsExactlyAsync<ArgumentException>(() => client.RegisterAsync("alice", Password("pw"), new byte[31]));
        StringAssert.Contains(shortKey.Message, "key");
        await Assert.ThrowsExactlyAsync<ArgumentException>(() => client.RecoverAsync("alice", ReadOnlyMemory<byte>.Empty));
        await Assert.ThrowsExactlyAsync<ArgumentException>(() => client.StatusAsync(""));
        Assert.AreEqual(0, vault.RegisterFinishCount + vault.LoginStartCount);
    }
}
