using System.Security.Cryptography;
using HsmVault.Crypto.Opaque;
using static HsmVault.Client.Tests.TestClients;

namespace HsmVault.Client.Tests;

[TestClass]
public sealed class PasskeyAndLastAttemptTests
{
    private static byte[] Prf(byte fill) => Enumerable.Repeat(fill, VaultSecret.PasskeyPrfBytes).ToArray();

    [TestMethod]
    public async Task Register_and_recover_with_a_passkey_secret()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        using VaultSecret passkey = VaultSecret.FromPasskeyPrf(Prf(0x5a));

        Assert.IsInstanceOfType<UserRegistered>(await client.RegisterAsync("alice", passkey, Key(0x42)));
        var recovered = Assert.IsInstanceOfType<KeyRecovered>(await client.RecoverAsync("alice", passkey));

        CollectionAssert.AreEqual(Key(0x42), recovered.Key);
        Assert.AreEqual(VaultSecretKind.PasskeyPrf, passkey.Kind);
    }

    [TestMethod]
    public async Task A_passkey_secret_is_never_stretched_whatever_ksf_the_client_is_configured_with()
    {
        await using var vault = new FakeVault();
        var reported = new List<VaultProgress>();
        var argon = OptionsFor(vault, Argon2idKsf.SecondRecommended) with { Progress = new SynchronousProgress(reported) };
        await using (var client = new VaultClient(argon))
        {
            using VaultSecret passkey = VaultSecret.FromPasskeyPrf(Prf(1));
            Assert.IsInstanceOfType<UserRegistered>(await client.RegisterAsync("alice", passkey, Key(3)));
        }

        // Another client with another password KSF recovers: the passkey path does not use it.
        await using var scrypt = For(vault, new ScryptKsf(16, 1, 1));
        using VaultSecret again = VaultSecret.FromPasskeyPrf(Prf(1));
        var recovered = Assert.IsInstanceOfType<KeyRecovered>(await scrypt.RecoverAsync("alice", again));

        CollectionAssert.AreEqual(Key(3), recovered.Key);
        CollectionAssert.DoesNotContain(reported, VaultProgress.StretchingPassword);
    }

    [TestMethod]
    public async Task A_passkey_secret_presented_as_a_password_does_not_recover()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        byte[] prf = Prf(0x33);
        using (VaultSecret passkey = VaultSecret.FromPasskeyPrf(prf))
        {
            await client.RegisterAsync("alice", passkey, Key(1));
        }

        // The same 32 bytes as a password (the identity KSF here, so only the label separates them).
        var wrong = Assert.IsInstanceOfType<WrongPassword>(await client.RecoverAsync("alice", prf));
        Assert.AreEqual(9u, wrong.AttemptsLeft);
    }

    [TestMethod]
    public async Task A_password_presented_as_a_passkey_secret_does_not_recover()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        byte[] password = Prf(0x44);
        await client.RegisterAsync("alice", password, Key(1));

        using VaultSecret passkey = VaultSecret.FromPasskeyPrf(password);
        Assert.IsInstanceOfType<WrongPassword>(await client.RecoverAsync("alice", passkey));
        Assert.IsInstanceOfType<KeyRecovered>(await client.RecoverAsync("alice", password));
    }

    [TestMethod]
    [DataRow(0)]
    [DataRow(31)]
    [DataRow(33)]
    [DataRow(64)]
    public void A_passkey_secret_must_be_exactly_32_bytes(int length)
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => VaultSecret.FromPasskeyPrf(new byte[length]));

        StringAssert.Contains(error.Message, $"passkey secret: {length} bytes, expected exactly 32");
    }

    [TestMethod]
    public async Task A_password_over_the_limit_is_refused_before_anything_is_sent()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);

        var error = await Assert.ThrowsExactlyAsync<ArgumentException>(() => client.RecoverAsync("alice", new byte[1024 * 1024]));

        StringAssert.Contains(error.Message, "password: 1048576 bytes, at most 1024");
        Assert.AreEqual(0, vault.RequestCount);
        using VaultSecret longest = VaultSecret.FromPassword(new byte[VaultSecret.MaxPasswordBytes]);
        Assert.AreEqual(VaultSecretKind.Password, longest.Kind);
    }

    [TestMethod]
    public void A_password_cannot_pose_as_a_labelled_passkey_input()
    {
        byte[] label = "\0HsmVault-v1 passkey PRF secret\0"u8.ToArray();

        var error = Assert.ThrowsExactly<ArgumentException>(() => VaultSecret.FromPassword([.. label, .. Prf(1)]));

        StringAssert.Contains(error.Message, "reserved for passkey secrets");
    }

    [TestMethod]
    public void A_disposed_secret_is_zeroed_and_unusable_and_never_printed()
    {
        var secret = VaultSecret.FromPasskeyPrf(Prf(0x77));
        Assert.AreEqual("VaultSecret(PasskeyPrf)", secret.ToString());

        secret.Dispose();

        Assert.ThrowsExactly<ObjectDisposedException>(() => secret.OpaqueInput.Length);
    }

    [TestMethod]
    public async Task The_last_attempt_is_announced_and_the_guess_that_destroys_the_record_says_so()
    {
        await using var vault = new FakeVault(attemptLimit: 2);
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("right"), Key(1));

        var last = Assert.IsInstanceOfType<WrongPassword>(await client.RecoverAsync("alice", Password("wrong")));
        VaultOutcome destroyed = await client.RecoverAsync("alice", Password("wrong"));

        Assert.IsTrue(last.IsLastAttempt);
        Assert.AreEqual("wrong password: 1 attempt left: a wrong password now destroys the record", last.Describe());
        var buried = Assert.IsInstanceOfType<RecordDestroyed>(destroyed);
        Assert.IsInstanceOfType<NoRecord>(buried, "a destroyed record is a case of no live record");
        StringAssert.Contains(buried.Describe(), "last allowed attempt: the record is destroyed");
        Assert.IsNull(vault.AttemptsUsed("alice"));

        // From now on the user looks like any unknown user, to this client too.
        var after = Assert.IsInstanceOfType<NoRecord>(await client.RecoverAsync("alice", Password("right")));
        Assert.IsNotInstanceOfType<RecordDestroyed>(after);
    }

    [TestMethod]
    public async Task Without_having_seen_the_record_live_the_final_answer_covers_both_cases()
    {
        await using var vault = new FakeVault(attemptLimit: 2);
        await using (var owner = For(vault))
        {
            await owner.RegisterAsync("alice", Password("right"), Key(1));
            await owner.RecoverAsync("alice", Password("wrong"));
        }

        // A fresh client has seen nothing: the vault's answer alone cannot tell the last guess from
        // an unknown user, and neither does the client.
        await using var stranger = For(vault);
        VaultOutcome last = await stranger.RecoverAsync("alice", Password("wrong"));
        VaultOutcome unknown = await stranger.RecoverAsync("nobody", Password("anything"));

        foreach (VaultOutcome outcome in new[] { last, unknown })
        {
            var none = Assert.IsInstanceOfType<NoRecord>(outcome);
            Assert.IsNotInstanceOfType<RecordDestroyed>(none);
            Assert.IsTrue(none.AfterFailedGuess);
            StringAssert.Contains(none.Describe(), "no live record now: either this user has none");
            StringAssert.Contains(none.Describe(), "or that was the last allowed attempt and the record is destroyed");
        }

        Assert.AreEqual(last, unknown, "the two answers are the same outcome");
        StringAssert.Contains((await stranger.StatusAsync("alice")).Describe(), "no live record for this user");
    }

    [TestMethod]
    public async Task A_status_query_is_enough_for_the_client_to_name_the_destroying_guess()
    {
        await using var vault = new FakeVault(attemptLimit: 1);
        await using (var owner = For(vault))
        {
            await owner.RegisterAsync("alice", Password("right"), Key(1));
        }

        await using var client = For(vault);
        var status = Assert.IsInstanceOfType<StatusReported>(await client.StatusAsync("alice"));
        Assert.AreEqual(1u, status.AttemptsLeft);

        Assert.IsInstanceOfType<RecordDestroyed>(await client.DeleteAsync("alice", Password("wrong")));
    }

    [TestMethod]
    public async Task A_deleted_user_is_not_reported_as_destroyed()
    {
        await using var vault = new FakeVault();
        await using var client = For(vault);
        await client.RegisterAsync("alice", Password("pw"), Key(1));
        Assert.IsInstanceOfType<UserDeleted>(await client.DeleteAsync("alice", Password("pw")));

        var none = Assert.IsInstanceOfType<NoRecord>(await client.RecoverAsync("alice", Password("pw")));
        Assert.IsNotInstanceOfType<RecordDestroyed>(none);
    }

    private sealed class SynchronousProgress(List<VaultProgress> seen) : IProgress<VaultProgress>
    {
        public void Report(VaultProgress value)
        {
            lock (seen)
            {
                seen.Add(value);
            }
        }
    }
}
