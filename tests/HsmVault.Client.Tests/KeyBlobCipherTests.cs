namespace HsmVault.Client.Tests;

[TestClass]
public sealed class KeyBlobCipherTests
{
    private static readonly byte[] ExportKey = Enumerable.Repeat((byte)9, 32).ToArray();
    private static readonly byte[] User = "alice"u8.ToArray();

    [TestMethod]
    public void Sealed_blob_opens_to_the_key_under_the_same_export_key_and_user()
    {
        byte[] key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

        byte[] blob = KeyBlobCipher.Seal(ExportKey, User, key);

        CollectionAssert.AreEqual(key, KeyBlobCipher.TryOpen(ExportKey, User, blob));
    }

    [TestMethod]
    public void Two_seals_of_the_same_key_differ()
    {
        byte[] key = new byte[32];

        CollectionAssert.AreNotEqual(KeyBlobCipher.Seal(ExportKey, User, key), KeyBlobCipher.Seal(ExportKey, User, key));
    }

    [TestMethod]
    public void Another_user_another_export_key_or_a_flipped_bit_does_not_open()
    {
        byte[] blob = KeyBlobCipher.Seal(ExportKey, User, new byte[32]);
        byte[] flipped = (byte[])blob.Clone();
        flipped[20] ^= 1;
        byte[] otherKey = (byte[])ExportKey.Clone();
        otherKey[0] ^= 1;

        Assert.IsNull(KeyBlobCipher.TryOpen(ExportKey, "bob"u8, blob));
        Assert.IsNull(KeyBlobCipher.TryOpen(otherKey, User, blob));
        Assert.IsNull(KeyBlobCipher.TryOpen(ExportKey, User, flipped));
        Assert.IsNull(KeyBlobCipher.TryOpen(ExportKey, User, blob.AsSpan(0, 10)));
    }
}
