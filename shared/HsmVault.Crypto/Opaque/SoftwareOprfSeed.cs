using System.Security.Cryptography;

namespace HsmVault.Crypto.Opaque;

/// <summary>An OPRF seed (Nh = 32 bytes) held in process memory, expanded with HKDF-Expand-SHA256.</summary>
public sealed class SoftwareOprfSeed : IOprfSeed
{
    private readonly byte[] _seed;

    public SoftwareOprfSeed(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != OpaqueSizes.Hash)
        {
            throw new CryptoFormatException(nameof(seed), $"must be {OpaqueSizes.Hash} bytes, got {seed.Length}");
        }

        _seed = seed.ToArray();
    }

    /// <inheritdoc />
    public byte[] Expand(ReadOnlySpan<byte> info, int length)
    {
        if (length < 1 || length > 255 * OpaqueSizes.Hash)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"must be between 1 and {255 * OpaqueSizes.Hash}");
        }

        var output = new byte[length];
        HKDF.Expand(HashAlgorithmName.SHA256, _seed, output, info);
        return output;
    }
}
