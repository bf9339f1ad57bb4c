using System.Security.Cryptography;

namespace HsmVault.Client;

/// <summary>
/// The client's encrypted key blob, stored by the vault and never readable by it:
/// version (1 byte, 0x01) || nonce (12) || AES-256-GCM ciphertext of K || tag (16). The key is
/// HKDF-SHA-256(ikm = OPAQUE export key, salt = empty, info = "HsmVault-v1 backup key blob");
/// the associated data is the version byte followed by the user id, so a blob cannot be
/// replayed under another user's record.
/// </summary>
internal static class KeyBlobCipher
{
    public const byte Version = 0x01;
    public const int NonceBytes = 12;
    public const int TagBytes = 16;
    public const int Overhead = 1 + NonceBytes + TagBytes;

    private const int KeyBytes = 32;

    private static ReadOnlySpan<byte> Info => "HsmVault-v1 backup key blob"u8;

    public static byte[] Seal(ReadOnlySpan<byte> exportKey, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> backupKey)
    {
        byte[] blob = new byte[Overhead + backupKey.Length];
        blob[0] = Version;
        Span<byte> nonce = blob.AsSpan(1, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        byte[] key = DeriveKey(exportKey);
        byte[] aad = AssociatedData(userId);
        try
        {
            using var aes = new AesGcm(key, TagBytes);
            aes.Encrypt(nonce, backupKey, blob.AsSpan(1 + NonceBytes, backupKey.Length), blob.AsSpan(1 + NonceBytes + backupKey.Length), aad);
            return blob;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Returns K, or null when the blob is malformed, altered, or sealed under another key or user.</summary>
    public static byte[]? TryOpen(ReadOnlySpan<byte> exportKey, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> blob)
    {
        if (blob.Length < Overhead || blob[0] != Version)
        {
            return null;
        }

        int length = blob.Length - Overhead;
        byte[] key = DeriveKey(exportKey);
        byte[] plaintext = new byte[length];
        try
        {
            using var aes = new AesGcm(key, TagBytes);
            aes.Decrypt(blob.Slice(1, NonceBytes), blob.Slice(1 + NonceBytes, length), blob[(1 + NonceBytes + length)..], plaintext, AssociatedData(userId));
            return plaintext;
        }
        catch (AuthenticationTagMismatchException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static byte[] AssociatedData(ReadOnlySpan<byte> userId) => [Version, .. userId];

    private static byte[] DeriveKey(ReadOnlySpan<byte> exportKey)
    {
        byte[] key = new byte[KeyBytes];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, exportKey, key, salt: [], Info);
        return key;
    }
}
