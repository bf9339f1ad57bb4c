using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Generators;

namespace HsmVault.Crypto.Opaque;

/// <summary>
/// scrypt (RFC 7914) with a 16-byte all-zero salt, as RFC 9807 §7 instantiates it.
/// The output length equals the input length (Nh).
/// </summary>
public sealed class ScryptKsf : IKeyStretchingFunction
{
    private const int SaltLength = 16;

    public ScryptKsf(int n, int r, int p)
    {
        if (n < 2 || !BitOperations.IsPow2(n))
        {
            throw new ArgumentOutOfRangeException(nameof(n), n, "N must be a power of two greater than 1");
        }

        if (r < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(r), r, "r must be at least 1");
        }

        if (p < 1 || (long)p * r >= 1 << 30)
        {
            throw new ArgumentOutOfRangeException(nameof(p), p, "p must be at least 1 and p*r below 2^30");
        }

        if ((long)n * r * 128 > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(n), n, "N*r*128 must fit in memory (below 2 GiB)");
        }

        N = n;
        R = r;
        P = p;
    }

    /// <summary>RFC 9807 §7's recommended parameters: N=32768, r=8, p=1.</summary>
    public static ScryptKsf Recommended { get; } = new(32768, 8, 1);

    public int N { get; }

    public int R { get; }

    public int P { get; }

    /// <inheritdoc />
    public string Name => string.Create(CultureInfo.InvariantCulture, $"scrypt-n{N}-r{R}-p{P}");

    /// <inheritdoc />
    public byte[] Stretch(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            throw new CryptoFormatException("ksfInput", "must not be empty");
        }

        var password = input.ToArray();
        try
        {
            return SCrypt.Generate(password, new byte[SaltLength], N, R, P, input.Length);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(password);
        }
    }
}
