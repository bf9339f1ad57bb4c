using System.Security.Cryptography;

namespace HsmVault.Crypto.Xaes;

/// <summary>
/// The key derivation of XAES-256-GCM (c2sp.org/XAES-256-GCM): NIST SP 800-108r1 counter-mode KDF with
/// AES-256-CMAC, label 'X', the first 96 bits of the 192-bit nonce as context, a 16-bit counter and no L
/// field. Each CMAC input is one whole block, so the derived key is two AES-256 encryptions by the base key K:
/// Kx = AES_K(M1 xor K1) || AES_K(M2 xor K1), with K1 the CMAC subkey of L = AES_K(0^128).
/// <para>
/// Only the block arithmetic lives here; who runs AES_K is the caller's business: the software
/// <see cref="XaesGcm"/>, or an HSM that encrypts the 32 bytes of <see cref="WriteDerivationInput"/> under a
/// key it never releases (PKCS#11 CKM_AES_ECB_ENCRYPT_DATA), so Kx is born inside it.
/// </para>
/// </summary>
public static class XaesKeyDerivation
{
    /// <summary>Bytes of the base key and of every derived key (AES-256).</summary>
    public const int KeyLength = 32;

    /// <summary>Bytes of the XAES-256-GCM nonce N.</summary>
    public const int NonceLength = 24;

    /// <summary>Bytes of N that feed the key derivation, N[0:12].</summary>
    public const int DerivationNonceLength = 12;

    /// <summary>Bytes of N that become the AES-256-GCM nonce, N[12:24].</summary>
    public const int GcmNonceLength = NonceLength - DerivationNonceLength;

    /// <summary>Bytes of an AES block: L, K1 and each CMAC input.</summary>
    public const int BlockLength = 16;

    /// <summary>Bytes of the two CMAC inputs, xored with K1, that AES_K turns into Kx.</summary>
    public const int DerivationInputLength = 2 * BlockLength;

    /// <summary>The CMAC subkey K1 of <paramref name="l"/> = AES_K(0^128): L doubled in GF(2^128) (NIST SP 800-38B, 6.1).</summary>
    public static void WriteSubkey(ReadOnlySpan<byte> l, Span<byte> subkey)
    {
        if (l.Length != BlockLength || subkey.Length != BlockLength)
        {
            throw new ArgumentException($"L and K1 are {BlockLength} bytes each.");
        }

        // Branch-free: the reduction constant is applied through a mask made of L's top bit.
        int carry = 0;
        for (int i = BlockLength - 1; i >= 0; i--)
        {
            int b = l[i];
            subkey[i] = (byte)((b << 1) | carry);
            carry = b >> 7;
        }

        subkey[BlockLength - 1] ^= (byte)(0x87 & -carry);
    }

    /// <summary>
    /// M1 xor K1 || M2 xor K1, where Mi = 0x00 || i || 'X' || 0x00 || <paramref name="derivationNonce"/>:
    /// the 32 bytes whose AES-256-ECB encryption under the base key is Kx.
    /// </summary>
    public static void WriteDerivationInput(ReadOnlySpan<byte> subkey, ReadOnlySpan<byte> derivationNonce, Span<byte> destination)
    {
        if (subkey.Length != BlockLength || derivationNonce.Length != DerivationNonceLength || destination.Length != DerivationInputLength)
        {
            throw new ArgumentException($"K1 is {BlockLength} bytes, N[0:12] {DerivationNonceLength} and the derivation input {DerivationInputLength}.");
        }

        for (int counter = 1; counter <= 2; counter++)
        {
            Span<byte> block = destination.Slice((counter - 1) * BlockLength, BlockLength);
            block[0] = 0x00;
            block[1] = (byte)counter;
            block[2] = (byte)'X';
            block[3] = 0x00;
            derivationNonce.CopyTo(block[4..]);
            for (int i = 0; i < BlockLength; i++)
            {
                block[i] ^= subkey[i];
            }
        }
    }

    /// <summary>Zeroes <paramref name="secret"/> (a subkey, a derivation input or a derived key) when it is no longer needed.</summary>
    public static void Forget(Span<byte> secret) => CryptographicOperations.ZeroMemory(secret);
}
