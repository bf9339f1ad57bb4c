using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Parameters;
using Bc = Org.BouncyCastle.Math.EC.Rfc8032;

namespace HsmVault.Transparency.Notes;

/// <summary>RFC 8032 Ed25519 (pure, no context) on BouncyCastle: 32-byte seeds and public keys, 64-byte signatures.</summary>
public static class Ed25519
{
    public const int SeedLength = 32;
    public const int PublicKeyLength = 32;
    public const int SignatureLength = 64;

    /// <summary>A fresh random seed from the system RNG.</summary>
    public static byte[] GenerateSeed() => RandomNumberGenerator.GetBytes(SeedLength);

    /// <summary>The public key of <paramref name="seed"/>.</summary>
    public static byte[] PublicKey(ReadOnlySpan<byte> seed)
    {
        CheckSeed(seed);
        return new Ed25519PrivateKeyParameters(seed.ToArray(), 0).GeneratePublicKey().GetEncoded();
    }

    /// <summary>The deterministic signature of <paramref name="message"/> under <paramref name="seed"/>.</summary>
    public static byte[] Sign(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> message)
    {
        CheckSeed(seed);
        byte[] secret = seed.ToArray();
        try
        {
            var signature = new byte[SignatureLength];
            Bc.Ed25519.Sign(secret, 0, message.ToArray(), 0, message.Length, signature, 0);
            return signature;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary>True when <paramref name="signature"/> is valid; false for any malformed key or signature.</summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != PublicKeyLength || signature.Length != SignatureLength)
        {
            return false;
        }

        return Bc.Ed25519.Verify(signature.ToArray(), 0, publicKey.ToArray(), 0, message.ToArray(), 0, message.Length);
    }

    private static void CheckSeed(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != SeedLength)
        {
            throw new ArgumentException($"an Ed25519 seed is {SeedLength} bytes, got {seed.Length}", nameof(seed));
        }
    }
}
