using System.Text;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Hpke;
using HsmVault.Crypto.Tests.Vectors;

namespace HsmVault.Crypto.Tests;

[TestClass]
public sealed class VaultChannelTests
{
    private static readonly byte[] Alice = "alice"u8.ToArray();
    private static readonly byte[] Bob = "bob"u8.ToArray();

    private static P256HpkeKeyPair ChannelKey() => P256HpkeKeyPair.FromPrivateKey(Convert.FromHexString(Rfc9180Vectors.SkRm));

    [TestMethod]
    public void A_request_opens_in_the_enclave_and_its_response_opens_at_the_client()
    {
        using var key = ChannelKey();
        using PendingChannelResponse pending = VaultChannel.SealRequest(key.PublicKey, Alice, "login"u8, SystemRandomSource.Instance, out byte[] enc, out byte[] ciphertext);
        Assert.IsTrue(VaultChannel.TryOpenRequest(key, Alice, enc, ciphertext, out byte[] request, out ChannelResponder? responder));
        CollectionAssert.AreEqual("login"u8.ToArray(), request);
        using (responder)
        {
            byte[] response = responder!.Seal("ke2"u8, SystemRandomSource.Instance);
            Assert.IsTrue(pending.TryOpen(response, out byte[] opened));
            CollectionAssert.AreEqual("ke2"u8.ToArray(), opened);
        }
    }

    [TestMethod]
    public void A_request_moved_to_another_user_does_not_open()
    {
        using var key = ChannelKey();
        using PendingChannelResponse pending = VaultChannel.SealRequest(key.PublicKey, Alice, "login"u8, SystemRandomSource.Instance, out byte[] enc, out byte[] ciphertext);
        Assert.IsFalse(VaultChannel.TryOpenRequest(key, Bob, enc, ciphertext, out _, out ChannelResponder? responder));
        Assert.IsNull(responder);
    }

    [TestMethod]
    public void A_request_to_another_channel_key_does_not_open()
    {
        using var key = ChannelKey();
        using var other = P256HpkeKeyPair.Derive("another fleet"u8);
        using PendingChannelResponse pending = VaultChannel.SealRequest(other.PublicKey, Alice, "login"u8, SystemRandomSource.Instance, out byte[] enc, out byte[] ciphertext);
        Assert.IsFalse(VaultChannel.TryOpenRequest(key, Alice, enc, ciphertext, out _, out _));
    }

    [TestMethod]
    public void Two_responses_swapped_between_requests_do_not_open()
    {
        using var key = ChannelKey();
        using PendingChannelResponse first = VaultChannel.SealRequest(key.PublicKey, Alice, "one"u8, SystemRandomSource.Instance, out byte[] enc1, out byte[] ct1);
        using PendingChannelResponse second = VaultChannel.SealRequest(key.PublicKey, Alice, "two"u8, SystemRandomSource.Instance, out byte[] enc2, out byte[] ct2);
        Assert.IsTrue(VaultChannel.TryOpenRequest(key, Alice, enc1, ct1, out _, out ChannelResponder? r1));
        Assert.IsTrue(VaultChannel.TryOpenRequest(key, Alice, enc2, ct2, out _, out ChannelResponder? r2));
        byte[] answer1 = r1!.Seal("answer one"u8, SystemRandomSource.Instance);
        byte[] answer2 = r2!.Seal("answer two"u8, SystemRandomSource.Instance);
        Assert.IsFalse(first.TryOpen(answer2, out _));
        Assert.IsFalse(second.TryOpen(answer1, out _));
        Assert.IsTrue(first.TryOpen(answer1, out _));
        Assert.IsTrue(second.TryOpen(answer2, out _));
    }

    [TestMethod]
    public void A_truncated_or_bit_flipped_message_in_either_direction_does_not_open()
    {
        using var key = ChannelKey();
        using PendingChannelResponse pending = VaultChannel.SealRequest(key.PublicKey, Alice, "register"u8, SystemRandomSource.Instance, out byte[] enc, out byte[] ciphertext);
        for (int bit = 0; bit < ciphertext.Length * 8; bit++)
        {
            byte[] flipped = (byte[])ciphertext.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.IsFalse(VaultChannel.TryOpenRequest(key, Alice, enc, flipped, out _, out _), $"request bit {bit}");
        }

        for (int bit = 0; bit < enc.Length * 8; bit += 7)
        {
            byte[] flipped = (byte[])enc.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.IsFalse(VaultChannel.TryOpenRequest(key, Alice, flipped, ciphertext, out _, out _), $"enc bit {bit}");
        }

        Assert.IsFalse(VaultChannel.TryOpenRequest(key, Alice, enc, ciphertext[..^1], out _, out _), "request truncated");
        Assert.IsFalse(VaultChannel.TryOpenRequest(key, Alice, enc[..^1], ciphertext, out _, out _), "enc truncated");

        Assert.IsTrue(VaultChannel.TryOpenRequest(key, Alice, enc, ciphertext, out _, out ChannelResponder? responder));
        byte[] response = responder!.Seal("registered"u8, SystemRandomSource.Instance);
        for (int bit = 0; bit < response.Length * 8; bit++)
        {
            byte[] flipped = (byte[])response.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.IsFalse(pending.TryOpen(flipped, out _), $"response bit {bit}");
        }

        for (int length = 0; length < response.Length; length++)
        {
            Assert.IsFalse(pending.TryOpen(response.AsSpan(0, length), out _), $"response truncated to {length}");
        }

        Assert.IsTrue(pending.TryOpen(response, out _), "the genuine response still opens");
    }

    [TestMethod]
    public void A_response_made_by_anyone_without_the_request_secret_does_not_open()
    {
        // A host knows the channel public key and the encapsulated key, but not the exported secret.
        using var key = ChannelKey();
        using PendingChannelResponse pending = VaultChannel.SealRequest(key.PublicKey, Alice, "register"u8, SystemRandomSource.Instance, out byte[] enc, out byte[] ciphertext);
        using PendingChannelResponse hostOwn = VaultChannel.SealRequest(key.PublicKey, Alice, "register"u8, SystemRandomSource.Instance, out byte[] hostEnc, out byte[] hostCiphertext);
        Assert.IsTrue(VaultChannel.TryOpenRequest(key, Alice, hostEnc, hostCiphertext, out _, out ChannelResponder? hostResponder));
        byte[] forged = hostResponder!.Seal("registered"u8, SystemRandomSource.Instance);
        Assert.IsFalse(pending.TryOpen(forged, out _));
    }

    [TestMethod]
    public void Channel_bytes_match_the_golden_file()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Golden", "vault-channel.txt");
        Dictionary<string, string> golden = File.ReadAllLines(path)
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split(':', 2))
            .ToDictionary(parts => parts[0].Trim(), parts => parts[1].Trim());
        Dictionary<string, string> actual = ComputeGoldenValues();
        CollectionAssert.AreEquivalent(golden.Keys.ToArray(), actual.Keys.ToArray(), "the golden file names exactly the pinned values");
        foreach ((string name, string value) in actual)
        {
            Assert.AreEqual(golden[name], value, name);
        }
    }

    // Every byte string the channel's wire format depends on; a change to any of them breaks
    // interoperability between deployed clients and fleets, so it must be deliberate.
    internal static Dictionary<string, string> ComputeGoldenValues()
    {
        static string Hex(ReadOnlySpan<byte> bytes) => bytes.IsEmpty ? "(empty)" : Convert.ToHexStringLower(bytes);
        using var key = ChannelKey();
        byte[] userId = Alice;
        byte[] requestPlaintext = Encoding.UTF8.GetBytes("request plaintext");
        byte[] responsePlaintext = Encoding.UTF8.GetBytes("response plaintext");
        var random = new ReplayRandomSource(Rfc9180Vectors.SkEm, "000102030405060708090a0b0c0d0e0f");
        using PendingChannelResponse pending = VaultChannel.SealRequest(key.PublicKey, userId, requestPlaintext, random, out byte[] enc, out byte[] ciphertext);
        if (!VaultChannel.TryOpenRequest(key, userId, enc, ciphertext, out _, out ChannelResponder? responder))
        {
            throw new InvalidOperationException("the golden request does not open");
        }

        using (responder)
        {
            byte[] response = responder!.Seal(responsePlaintext, random);
            return new Dictionary<string, string>
            {
                ["info_label"] = Hex(VaultChannel.InfoLabel),
                ["info(user_id=alice)"] = Hex(VaultChannel.Info(userId)),
                ["associated_data"] = Hex(VaultChannel.AssociatedData),
                ["response_export_label"] = Hex(VaultChannel.ResponseExportLabel),
                ["response_key_label"] = Hex(VaultChannel.ResponseKeyLabel),
                ["response_nonce_label"] = Hex(VaultChannel.ResponseNonceLabel),
                ["channel_public_key"] = Hex(key.PublicKey),
                ["enc"] = Hex(enc),
                ["request_ciphertext"] = Hex(ciphertext),
                ["sealed_response"] = Hex(response),
            };
        }
    }
}
