using System.Security.Cryptography;
using System.Text;

namespace HsmVault.Protocol;

/// <summary>
/// How the enclave wraps the user's encrypted key blob for the trip back to the client
/// (<c>Recovered.sealed_key_blob</c>): AES-256-GCM under HKDF-SHA-256(session key, info
/// "HsmVault-v1 recovered blob"), a nonce of 12 zero bytes, and the user id as associated data.
/// The fixed nonce is safe because every OPAQUE session key is fresh and wraps one blob.
/// </summary>
public static class RecoveredBlobCipher
{
    private const int KeyBytes = 32;
    private const int NonceBytes = 12;
    private const int TagBytes = 16;

    private static ReadOnlySpan<byte> Info => "HsmVault-v1 recovered blob"u8;

    /// <summary>Encrypts <paramref name="blob"/> for the holder of <paramref name="sessionKey"/>; returns ciphertext || tag.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> sessionKey, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> blob)
    {
        byte[] key = DeriveKey(sessionKey);
        try
        {
            using var aes = new AesGcm(key, TagBytes);
            byte[] output = new byte[blob.Length + TagBytes];
            aes.Encrypt(stackalloc byte[NonceBytes], blob, output.AsSpan(0, blob.Length), output.AsSpan(blob.Length), userId);
            return output;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Reverses <see cref="Seal"/>; returns false when the bytes were altered or the key is wrong.</summary>
    public static bool TryOpen(ReadOnlySpan<byte> sessionKey, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> sealedBlob, out byte[] blob)
    {
        blob = [];
        if (sealedBlob.Length < TagBytes)
        {
            return false;
        }

        byte[] key = DeriveKey(sessionKey);
        try
        {
            using var aes = new AesGcm(key, TagBytes);
            int length = sealedBlob.Length - TagBytes;
            byte[] plaintext = new byte[length];
            aes.Decrypt(stackalloc byte[NonceBytes], sealedBlob[..length], sealedBlob[length..], plaintext, userId);
            blob = plaintext;
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static byte[] DeriveKey(ReadOnlySpan<byte> sessionKey)
    {
        if (sessionKey.IsEmpty)
        {
            throw new ArgumentException("sessionKey: empty", nameof(sessionKey));
        }

        byte[] key = new byte[KeyBytes];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, sessionKey, key, salt: [], Info);
        return key;
    }
}
