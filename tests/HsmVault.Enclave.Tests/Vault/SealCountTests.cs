using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Tests.Vault;

/// <summary>
/// How many seals under the fleet record key each operation costs: the figures behind docs/CRYPTO.md
/// "Nonce and key-use bounds" (a registration is 2 seals, a successful login 3, a wrong guess 2), and the
/// sealed format every one of them has.
/// </summary>
[TestClass]
public sealed class SealCountTests
{
    private static readonly byte[] Blob = new byte[44];

    [TestMethod]
    public void Registration_login_and_status_cost_the_documented_number_of_seals()
    {
        CountingHsmServices? hsm = null;
        var vault = new TestVault(70, wrap: inner => hsm = new CountingHsmServices(inner));
        var alice = new TestUser(vault, "alice");

        int before = hsm!.Seals;
        alice.Register("pw", Blob);
        Assert.AreEqual(2, hsm.Seals - before, "registration: the ticket and the record");

        before = hsm.Seals;
        Assert.IsNotNull(alice.Recover("pw", out _));
        Assert.AreEqual(3, hsm.Seals - before, "successful login: the counted record, the session, the reset record");

        before = hsm.Seals;
        Assert.IsNull(alice.Recover("wrong", out VaultResponse refused));
        Assert.AreEqual(VaultResponse.ResultOneofCase.Error, refused.ResultCase);
        Assert.AreEqual(2, hsm.Seals - before, "wrong guess: the counted record and the session");

        before = hsm.Seals;
        _ = alice.Status();
        Assert.AreEqual(0, hsm.Seals - before, "status seals nothing");

        before = hsm.Seals;
        _ = new TestUser(vault, "nobody").Recover("pw", out _);
        Assert.AreEqual(1, hsm.Seals - before, "unknown user: the fake session only");
    }

    [TestMethod]
    public void Every_sealed_value_the_enclave_hands_out_is_the_xaes_format()
    {
        var vault = new TestVault(71);
        var alice = new TestUser(vault, "alice");
        VaultResponse started = vault.Send(alice.RegisterStartRequest("pw", out _));
        byte[] ticket = started.RegisterStarted.RegistrationSession.ToByteArray();
        Assert.AreEqual(SealedFormat.XaesVersion, ticket[0], "the registration ticket's version byte");
        Assert.AreEqual(SealedFormat.SealedLength(ticket.Length - SealedFormat.Overhead), ticket.Length);
        Assert.IsGreaterThan(SealedFormat.Overhead, ticket.Length);

        alice.Register("pw", Blob);
        byte[] record = vault.WitnessFor(alice.UserId).Record.Ciphertext.ToByteArray();
        Assert.AreEqual(SealedFormat.XaesVersion, record[0], "the record's version byte");
        VaultResponse login = vault.Send(alice.LoginStartRequest("pw", out _));
        Assert.AreEqual(SealedFormat.XaesVersion, login.LoginStarted.LoginSession[0], "the login session's version byte");
    }

    [TestMethod]
    public void Every_seal_uses_a_key_of_its_own_so_no_key_ever_nears_its_bound()
    {
        // The rotation XAES-256-GCM gives: each seal's key is derived from the record key and the
        // first half of its own random nonce (docs/CRYPTO.md), so no two seals may share that half.
        // A fixed, counted or repeated nonce (an RNG that restarts, a nonce kept in a field) fails here.
        CountingHsmServices? hsm = null;
        var vault = new TestVault(72, wrap: inner => hsm = new CountingHsmServices(inner));
        var users = Enumerable.Range(0, 40).Select(i => new TestUser(vault, $"user-{i}")).ToList();
        foreach (TestUser user in users)
        {
            user.Register("pw", Blob);
        }

        for (int round = 0; round < 5; round++)
        {
            foreach (TestUser user in users)
            {
                byte[]? recovered = user.Recover(round % 2 == 0 ? "pw" : "wrong", out _);
                Assert.AreEqual(round % 2 == 0, recovered is not null, $"{user.UserId}, round {round}");
            }
        }

        var keyHalves = new HashSet<string>(StringComparer.Ordinal);
        var gcmHalves = new HashSet<string>(StringComparer.Ordinal);
        foreach (byte[] sealedValue in hsm!.Sealed)
        {
            ReadOnlySpan<byte> nonce = sealedValue.AsSpan(1, SealedFormat.NonceLength);
            Assert.IsTrue(keyHalves.Add(Convert.ToHexString(nonce[..12])), "two seals derived the same key");
            Assert.IsTrue(gcmHalves.Add(Convert.ToHexString(nonce[12..])), "two seals used the same GCM nonce");
        }

        Console.WriteLine($"{hsm.Sealed.Count} seals, {keyHalves.Count} distinct derived keys");
        Assert.IsGreaterThanOrEqualTo(40 * 2 + (5 * 40 * 2), hsm.Sealed.Count);
    }
}
