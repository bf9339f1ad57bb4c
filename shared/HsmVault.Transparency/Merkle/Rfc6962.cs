using System.Security.Cryptography;

namespace HsmVault.Transparency.Merkle;

/// <summary>
/// RFC 6962 (section 2.1) Merkle tree hashing with SHA-256, and the verifiers of inclusion and
/// consistency proofs in the iterative form of RFC 9162 sections 2.1.3.2 and 2.1.4.2:
/// <c>leaf = SHA-256(0x00 || entry)</c>, <c>node = SHA-256(0x01 || left || right)</c>, and the
/// empty tree's root is <c>SHA-256("")</c>. Verifiers return false for every malformed input
/// (wrong hash length, index out of range, a proof too long or too short); they never throw on data.
/// </summary>
public static class Rfc6962
{
    /// <summary>The length of every hash.</summary>
    public const int HashLength = 32;

    /// <summary>SHA-256 of the empty string: the root of the tree of size 0.</summary>
    public static ReadOnlySpan<byte> EmptyRoot =>
    [
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
        0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
    ];

    /// <summary>The leaf hash of <paramref name="entry"/>: SHA-256(0x00 || entry).</summary>
    public static byte[] LeafHash(ReadOnlySpan<byte> entry)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData([0x00]);
        hash.AppendData(entry);
        return hash.GetHashAndReset();
    }

    /// <summary>The interior node over two children: SHA-256(0x01 || left || right).</summary>
    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> input = stackalloc byte[1 + (2 * HashLength)];
        if (left.Length != HashLength || right.Length != HashLength)
        {
            throw new ArgumentException($"node children must be {HashLength}-byte hashes");
        }

        input[0] = 0x01;
        left.CopyTo(input[1..]);
        right.CopyTo(input[(1 + HashLength)..]);
        return SHA256.HashData(input);
    }

    /// <summary>
    /// The root that <paramref name="proof"/> (the audit path, leaf's sibling first) implies for the
    /// leaf hash at <paramref name="index"/> of a tree of <paramref name="size"/> leaves, or null when
    /// the proof cannot be a path of that leaf in that tree (wrong length, index not below size).
    /// </summary>
    public static byte[]? RootFromInclusionProof(long index, long size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (index < 0 || size <= 0 || index >= size || leafHash.Length != HashLength || proof.Any(p => p is null || p.Length != HashLength))
        {
            return null;
        }

        ulong fn = (ulong)index;
        ulong sn = (ulong)(size - 1);
        byte[] r = leafHash.ToArray();
        foreach (byte[] p in proof)
        {
            if (sn == 0)
            {
                return null;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = NodeHash(p, r);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                r = NodeHash(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 ? r : null;
    }

    /// <summary>True when <paramref name="proof"/> proves the leaf hash at <paramref name="index"/> is in the tree of <paramref name="size"/> leaves with <paramref name="root"/>.</summary>
    public static bool VerifyInclusion(long index, long size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root) =>
        root.Length == HashLength
        && RootFromInclusionProof(index, size, leafHash, proof) is { } computed
        && CryptographicOperations.FixedTimeEquals(computed, root);

    /// <summary>
    /// True when <paramref name="proof"/> proves that the tree of <paramref name="size1"/> leaves with
    /// <paramref name="root1"/> is a prefix of the tree of <paramref name="size2"/> leaves with
    /// <paramref name="root2"/>. Equal sizes need equal roots and an empty proof; from size 0 every
    /// tree is consistent and the proof must be empty.
    /// </summary>
    public static bool VerifyConsistency(long size1, long size2, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root1, ReadOnlySpan<byte> root2)
    {
        ArgumentNullException.ThrowIfNull(proof);
        if (size1 < 0 || size2 < size1 || proof.Any(p => p is null || p.Length != HashLength))
        {
            return false;
        }

        if (size1 == size2)
        {
            return proof.Count == 0 && root1.Length == HashLength && root1.SequenceEqual(root2);
        }

        if (size1 == 0)
        {
            return proof.Count == 0;
        }

        if (proof.Count == 0 || root1.Length != HashLength || root2.Length != HashLength)
        {
            return false;
        }

        // When size1 is a power of two its whole tree is a node of the larger one and the proof
        // leaves it out: it is root1 itself.
        var path = new List<byte[]>(proof.Count + 1);
        if (IsPowerOfTwo((ulong)size1))
        {
            path.Add(root1.ToArray());
        }

        path.AddRange(proof);
        ulong fn = (ulong)(size1 - 1);
        ulong sn = (ulong)(size2 - 1);
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        byte[] fr = path[0];
        byte[] sr = path[0];
        for (int i = 1; i < path.Count; i++)
        {
            byte[] c = path[i];
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                fr = NodeHash(c, fr);
                sr = NodeHash(c, sr);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                sr = NodeHash(sr, c);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0
            && CryptographicOperations.FixedTimeEquals(fr, root1)
            && CryptographicOperations.FixedTimeEquals(sr, root2);
    }

    private static bool IsPowerOfTwo(ulong value) => value != 0 && (value & (value - 1)) == 0;
}
