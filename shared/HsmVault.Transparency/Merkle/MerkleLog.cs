namespace HsmVault.Transparency.Merkle;

/// <summary>
/// An append-only RFC 6962 tree of leaf hashes that answers for every size it has had: the root,
/// inclusion proofs and consistency proofs between any two sizes. It keeps every perfect subtree's
/// hash by level (about 2n hashes), so a root or a proof costs O(log n) hashes. The tree of size n
/// is the right-leaning fold of its "peaks", the perfect subtrees that n's binary digits name
/// from the left; a proof is the path inside one peak, then the fold of the peaks to its right,
/// then the peaks to its left. Not thread-safe: the owner serialises appends.
/// </summary>
public sealed class MerkleLog
{
    // _levels[h][j] is the hash of the perfect subtree of 2^h leaves starting at leaf j * 2^h.
    private readonly List<List<byte[]>> _levels = [[]];

    /// <summary>The number of leaves.</summary>
    public long Size => _levels[0].Count;

    /// <summary>Appends a leaf hash (already <see cref="Rfc6962.LeafHash"/>ed) and returns its index.</summary>
    public long Append(ReadOnlySpan<byte> leafHash)
    {
        if (leafHash.Length != Rfc6962.HashLength)
        {
            throw new ArgumentException($"a leaf hash is {Rfc6962.HashLength} bytes, got {leafHash.Length}", nameof(leafHash));
        }

        long index = Size;
        _levels[0].Add(leafHash.ToArray());

        // Each completed pair lifts one level up, as far as the new leaf completes subtrees.
        for (int level = 0; _levels[level].Count % 2 == 0; level++)
        {
            List<byte[]> row = _levels[level];
            if (level + 1 == _levels.Count)
            {
                _levels.Add([]);
            }

            _levels[level + 1].Add(Rfc6962.NodeHash(row[^2], row[^1]));
        }

        return index;
    }

    /// <summary>
    /// The root the tree would have with <paramref name="leafHash"/> appended, without appending it:
    /// so an owner can sign the next checkpoint and persist both before it changes the tree.
    /// </summary>
    public byte[] RootAfterAppending(ReadOnlySpan<byte> leafHash)
    {
        if (leafHash.Length != Rfc6962.HashLength)
        {
            throw new ArgumentException($"a leaf hash is {Rfc6962.HashLength} bytes, got {leafHash.Length}", nameof(leafHash));
        }

        // The new leaf merges with the peaks it completes, smallest first, as Append would.
        List<(long Start, int Level)> peaks = Peaks(Size);
        byte[] merged = leafHash.ToArray();
        int level = 0;
        while (peaks.Count > 0 && peaks[^1].Level == level)
        {
            merged = Rfc6962.NodeHash(Node(level, peaks[^1].Start >> level), merged);
            peaks.RemoveAt(peaks.Count - 1);
            level++;
        }

        byte[] root = merged;
        for (int i = peaks.Count - 1; i >= 0; i--)
        {
            root = Rfc6962.NodeHash(Node(peaks[i].Level, peaks[i].Start >> peaks[i].Level), root);
        }

        return root;
    }

    /// <summary>The leaf hash at <paramref name="index"/>.</summary>
    public byte[] LeafHash(long index)
    {
        CheckIndex(index, Size, nameof(index));
        return (byte[])_levels[0][(int)index].Clone();
    }

    /// <summary>The root of the tree as it was at <paramref name="size"/> leaves (0 to <see cref="Size"/>).</summary>
    public byte[] Root(long size)
    {
        CheckSize(size, nameof(size));
        return size == 0 ? Rfc6962.EmptyRoot.ToArray() : Fold(Peaks(size));
    }

    /// <summary>The audit path of leaf <paramref name="index"/> in the tree of <paramref name="size"/> leaves, leaf's sibling first.</summary>
    public IReadOnlyList<byte[]> InclusionProof(long index, long size)
    {
        CheckSize(size, nameof(size));
        CheckIndex(index, size, nameof(index));
        return PathOfNode(0, index, size);
    }

    /// <summary>The RFC 6962 consistency proof from size <paramref name="size1"/> to <paramref name="size2"/> (empty when size1 is 0 or equals size2).</summary>
    public IReadOnlyList<byte[]> ConsistencyProof(long size1, long size2)
    {
        CheckSize(size2, nameof(size2));
        if (size1 < 0 || size1 > size2)
        {
            throw new ArgumentOutOfRangeException(nameof(size1), size1, $"must be from 0 to size2 ({size2})");
        }

        if (size1 == 0 || size1 == size2)
        {
            return [];
        }

        // The old tree's last peak is a node of the new tree; the proof is that node (unless it is
        // the whole old tree, which the verifier knows as root1) and its path in the new tree.
        int level = System.Numerics.BitOperations.TrailingZeroCount((ulong)size1);
        long nodeIndex = (size1 - 1) >> level;
        var proof = new List<byte[]>();
        if (nodeIndex != 0)
        {
            proof.Add(Node(level, nodeIndex));
        }

        proof.AddRange(PathOfNode(level, nodeIndex, size2));
        return proof;
    }

    // The path from the perfect node (level, index) to the root of the tree of `size` leaves.
    private List<byte[]> PathOfNode(int level, long index, long size)
    {
        long start = index << level;
        var path = new List<byte[]>();
        List<(long Start, int Level)> peaks = Peaks(size);
        int peak = peaks.FindIndex(p => start >= p.Start && start < p.Start + (1L << p.Level));

        // Inside the peak: plain perfect-tree siblings.
        for (int h = level; h < peaks[peak].Level; h++)
        {
            path.Add(Node(h, (start >> h) ^ 1));
        }

        // Then the peaks to the right, folded into one node, and the peaks to the left, nearest first.
        if (peak + 1 < peaks.Count)
        {
            path.Add(Fold(peaks.GetRange(peak + 1, peaks.Count - peak - 1)));
        }

        for (int left = peak - 1; left >= 0; left--)
        {
            path.Add(Node(peaks[left].Level, peaks[left].Start >> peaks[left].Level));
        }

        return path;
    }

    // The perfect subtrees that cover [0, size), largest first: one per bit of size.
    private static List<(long Start, int Level)> Peaks(long size)
    {
        var peaks = new List<(long, int)>();
        long start = 0;
        for (int level = 62; level >= 0; level--)
        {
            if ((size & (1L << level)) != 0)
            {
                peaks.Add((start, level));
                start += 1L << level;
            }
        }

        return peaks;
    }

    private byte[] Fold(List<(long Start, int Level)> peaks)
    {
        byte[] hash = Node(peaks[^1].Level, peaks[^1].Start >> peaks[^1].Level);
        for (int i = peaks.Count - 2; i >= 0; i--)
        {
            hash = Rfc6962.NodeHash(Node(peaks[i].Level, peaks[i].Start >> peaks[i].Level), hash);
        }

        return hash;
    }

    private byte[] Node(int level, long index) => _levels[level][(int)index];

    private void CheckSize(long size, string name)
    {
        if (size < 0 || size > Size)
        {
            throw new ArgumentOutOfRangeException(name, size, $"must be from 0 to the log's size ({Size})");
        }
    }

    private static void CheckIndex(long index, long size, string name)
    {
        if (index < 0 || index >= size)
        {
            throw new ArgumentOutOfRangeException(name, index, $"must be below the tree size ({size})");
        }
    }
}
