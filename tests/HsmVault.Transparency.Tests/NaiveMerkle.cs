using System.Security.Cryptography;

namespace HsmVault.Transparency.Tests;

/// <summary>
/// RFC 6962 section 2.1 written down as its recursive definitions over the raw entries (MTH, PATH,
/// SUBPROOF), sharing no code with the library: the reference the library's proofs must equal.
/// </summary>
internal static class NaiveMerkle
{
    public static byte[] Mth(IReadOnlyList<byte[]> d)
    {
        if (d.Count == 0)
        {
            return SHA256.HashData([]);
        }

        if (d.Count == 1)
        {
            return SHA256.HashData([0x00, .. d[0]]);
        }

        int k = LargestPowerOfTwoBelow(d.Count);
        return SHA256.HashData([0x01, .. Mth(Slice(d, 0, k)), .. Mth(Slice(d, k, d.Count))]);
    }

    public static List<byte[]> Path(int m, IReadOnlyList<byte[]> d)
    {
        if (d.Count == 1)
        {
            return [];
        }

        int k = LargestPowerOfTwoBelow(d.Count);
        return m < k
            ? [.. Path(m, Slice(d, 0, k)), Mth(Slice(d, k, d.Count))]
            : [.. Path(m - k, Slice(d, k, d.Count)), Mth(Slice(d, 0, k))];
    }

    public static List<byte[]> Proof(int m, IReadOnlyList<byte[]> d) => SubProof(m, d, true);

    private static List<byte[]> SubProof(int m, IReadOnlyList<byte[]> d, bool b)
    {
        int n = d.Count;
        if (m == n)
        {
            return b ? [] : [Mth(d)];
        }

        int k = LargestPowerOfTwoBelow(n);
        return m <= k
            ? [.. SubProof(m, Slice(d, 0, k), b), Mth(Slice(d, k, n))]
            : [.. SubProof(m - k, Slice(d, k, n), false), Mth(Slice(d, 0, k))];
    }

    private static int LargestPowerOfTwoBelow(int n)
    {
        int k = 1;
        while (k << 1 < n)
        {
            k <<= 1;
        }

        return k;
    }

    private static List<byte[]> Slice(IReadOnlyList<byte[]> d, int from, int to) => [.. d.Skip(from).Take(to - from)];
}
