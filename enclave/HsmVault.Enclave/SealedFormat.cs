using HsmVault.Crypto.Xaes;

namespace HsmVault.Enclave;

/// <summary>
/// The bytes <see cref="IHsmServices.Seal"/> returns and <see cref="IHsmServices.TryUnseal"/> takes:
/// version (1) || nonce (24) || ciphertext || tag (16). Version 1 is XAES-256-GCM under the fleet record
/// key with a random 192-bit nonce (docs/CRYPTO.md, "Nonce and key-use bounds"); any other version byte
/// does not unseal. Every HSM services implementation builds and parses these bytes here.
/// </summary>
public static class SealedFormat
{
    /// <summary>The one format this build seals and unseals: XAES-256-GCM.</summary>
    public const byte XaesVersion = 0x01;

    /// <summary>Bytes of the version prefix.</summary>
    public const int VersionLength = 1;

    /// <summary>Bytes of the XAES-256-GCM nonce.</summary>
    public const int NonceLength = XaesKeyDerivation.NonceLength;

    /// <summary>Bytes of the authentication tag.</summary>
    public const int TagLength = XaesGcm.TagLength;

    /// <summary>Bytes a seal adds to its plaintext (41).</summary>
    public const int Overhead = VersionLength + NonceLength + TagLength;

    /// <summary>Bytes of the sealed form of a <paramref name="plaintextLength"/>-byte plaintext.</summary>
    public static int SealedLength(int plaintextLength) => checked(Overhead + plaintextLength);

    /// <summary>
    /// Splits <paramref name="sealedData"/> into nonce, ciphertext and tag; false for bytes too short to be
    /// sealed or of another version (nothing is decrypted then).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> sealedData, out ReadOnlySpan<byte> nonce, out ReadOnlySpan<byte> ciphertext, out ReadOnlySpan<byte> tag)
    {
        nonce = ciphertext = tag = default;
        if (sealedData.Length < Overhead || sealedData[0] != XaesVersion)
        {
            return false;
        }

        nonce = sealedData.Slice(VersionLength, NonceLength);
        ciphertext = sealedData[(VersionLength + NonceLength)..^TagLength];
        tag = sealedData[^TagLength..];
        return true;
    }
}
