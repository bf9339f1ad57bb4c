using Google.Protobuf;
using HsmVault.Protocol.V1;

namespace HsmVault.Protocol.Merkle;

/// <summary>
/// A compact sparse Merkle tree over 256-bit keys (see merkle.proto for the hashing rules):
/// a subtree with one leaf is that leaf, so paths are about log2(leaves) long. The tree is a
/// root hash over a content-addressed <see cref="IMerkleNodeStore"/>; updates add nodes and
/// move the root, leaving older roots readable. The host runs it over its full store to build
/// proofs; the enclave runs the same code over a scratch store filled from proofs
/// (<see cref="AddProof"/>), which is safe because only nodes whose hashes chain up to the
/// trusted root are ever reached.
/// </summary>
public sealed class SparseMerkleTree
{
    private readonly IMerkleNodeStore _store;
    private byte[] _root;

    public SparseMerkleTree(IMerkleNodeStore store, ReadOnlySpan<byte> root)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (root.Length != MerkleHashing.HashBytes)
        {
            throw new ArgumentException($"root: {root.Length} bytes, expected {MerkleHashing.HashBytes}", nameof(root));
        }

        _store = store;
        _root = root.ToArray();
    }

    /// <summary>An empty tree over <paramref name="store"/>.</summary>
    public SparseMerkleTree(IMerkleNodeStore store)
        : this(store, MerkleHashing.Empty)
    {
    }

    /// <summary>The current root hash (a copy).</summary>
    public byte[] Root => (byte[])_root.Clone();

    /// <summary>
    /// The value hash stored under <paramref name="key"/>, or null when the key is absent.
    /// Throws <see cref="MerkleProofException"/> when a node on the path is unknown.
    /// </summary>
    public byte[]? Find(ReadOnlySpan<byte> key)
    {
        RequireKey(key);
        byte[] hash = _root;
        for (int depth = 0; ; depth++)
        {
            if (MerkleHashing.IsEmpty(hash))
            {
                return null;
            }

            switch (Load(hash, depth))
            {
                case MerkleLeafNode leaf:
                    if (leaf.Key.AsSpan().SequenceEqual(key))
                    {
                        return (byte[])leaf.ValueHash.Clone();
                    }

                    RequireOnPath(leaf.Key, key, depth);
                    return null;
                case MerkleInteriorNode interior:
                    RequireDepth(depth);
                    hash = MerkleHashing.Bit(key, depth) == 0 ? interior.Left : interior.Right;
                    break;
            }
        }
    }

    /// <summary>Inserts or replaces the value hash under <paramref name="key"/>.</summary>
    public void Set(ReadOnlySpan<byte> key, ReadOnlySpan<byte> valueHash)
    {
        RequireKey(key);
        if (valueHash.Length != MerkleHashing.HashBytes)
        {
            throw new ArgumentException($"valueHash: {valueHash.Length} bytes, expected {MerkleHashing.HashBytes}", nameof(valueHash));
        }

        var leaf = new MerkleLeafNode(key.ToArray(), valueHash.ToArray());
        byte[] leafHash = Put(leaf);
        _root = SetAt(_root, 0, leaf, leafHash);
    }

    /// <summary>Removes <paramref name="key"/>; returns false (and changes nothing) when it is absent.</summary>
    public bool Remove(ReadOnlySpan<byte> key)
    {
        RequireKey(key);
        byte[] newRoot = RemoveAt(_root, 0, key.ToArray());
        if (newRoot.AsSpan().SequenceEqual(_root))
        {
            return false;
        }

        _root = newRoot;
        return true;
    }

    /// <summary>The membership or non-membership proof for <paramref name="key"/> against <see cref="Root"/>.</summary>
    public MerkleProof Prove(ReadOnlySpan<byte> key)
    {
        RequireKey(key);
        var proof = new MerkleProof();
        byte[] hash = _root;
        byte[]? deepestSibling = null;
        for (int depth = 0; !MerkleHashing.IsEmpty(hash); depth++)
        {
            MerkleNode node = Load(hash, depth);
            if (node is MerkleLeafNode leaf)
            {
                proof.Terminal = ToMessage(leaf);
                break;
            }

            var interior = (MerkleInteriorNode)node;
            RequireDepth(depth);
            bool right = MerkleHashing.Bit(key, depth) == 1;
            deepestSibling = right ? interior.Left : interior.Right;
            proof.Siblings.Add(MerkleHashing.IsEmpty(deepestSibling) ? ByteString.Empty : ByteString.CopyFrom(deepestSibling));
            hash = right ? interior.Right : interior.Left;
        }

        // The deepest sibling's preimage, leaf or interior, so that a verifier can remove the key.
        if (deepestSibling is not null && !MerkleHashing.IsEmpty(deepestSibling) && _store.TryGet(deepestSibling, out MerkleNode sibling))
        {
            if (sibling is MerkleLeafNode siblingLeaf)
            {
                proof.DeepestSiblingLeaf = ToMessage(siblingLeaf);
            }
            else
            {
                var siblingInterior = (MerkleInteriorNode)sibling;
                proof.DeepestSiblingInterior = new MerkleInterior { Left = ChildBytes(siblingInterior.Left), Right = ChildBytes(siblingInterior.Right) };
            }
        }

        return proof;
    }

    /// <summary>
    /// Checks the shape of <paramref name="proof"/> for <paramref name="key"/>, stores every node
    /// it implies in <paramref name="store"/> under its computed hash, and returns the root the
    /// proof leads to. Nothing here trusts the proof: a forged proof only adds nodes that no
    /// walk from a genuine root reaches.
    /// </summary>
    public static byte[] AddProof(IMerkleNodeStore store, ReadOnlySpan<byte> key, MerkleProof proof)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(proof);
        RequireKey(key);
        int depth = proof.Siblings.Count;
        if (depth > MerkleHashing.KeyBits)
        {
            throw new MerkleProofException(MerkleProofError.Malformed, $"proof.siblings: {depth} entries, at most {MerkleHashing.KeyBits}");
        }

        if (proof.DeepestSiblingLeaf is not null && proof.DeepestSiblingInterior is not null)
        {
            throw new MerkleProofException(MerkleProofError.Malformed, "proof: both deepest_sibling_leaf and deepest_sibling_interior are set; a node is one or the other");
        }

        byte[] current = MerkleHashing.Empty.ToArray();
        if (proof.Terminal is not null)
        {
            MerkleLeafNode terminal = FromMessage(proof.Terminal, "proof.terminal");
            if (!terminal.Key.AsSpan().SequenceEqual(key) && !MerkleHashing.SharePrefix(terminal.Key, key, depth))
            {
                throw new MerkleProofException(MerkleProofError.Inconsistent, "proof.terminal: the leaf's key does not lie on the queried key's path");
            }

            current = terminal.ComputeHash();
            store.Put(current, terminal);
        }

        for (int i = depth - 1; i >= 0; i--)
        {
            ReadOnlySpan<byte> siblingBytes = proof.Siblings[i].Span;
            byte[] sibling = siblingBytes.Length switch
            {
                0 => MerkleHashing.Empty.ToArray(),
                MerkleHashing.HashBytes => siblingBytes.ToArray(),
                _ => throw new MerkleProofException(MerkleProofError.Malformed, $"proof.siblings[{i}]: {siblingBytes.Length} bytes, expected 0 or {MerkleHashing.HashBytes}"),
            };
            var interior = MerkleHashing.Bit(key, i) == 0
                ? new MerkleInteriorNode(current, sibling)
                : new MerkleInteriorNode(sibling, current);
            current = interior.ComputeHash();
            store.Put(current, interior);
        }

        MerkleNode? deepest = proof.DeepestSiblingLeaf is not null ? FromMessage(proof.DeepestSiblingLeaf, "proof.deepest_sibling_leaf")
            : proof.DeepestSiblingInterior is not null ? FromMessage(proof.DeepestSiblingInterior, "proof.deepest_sibling_interior")
            : null;
        if (deepest is not null)
        {
            string field = deepest is MerkleLeafNode ? "proof.deepest_sibling_leaf" : "proof.deepest_sibling_interior";
            byte[] siblingHash = deepest.ComputeHash();
            if (depth == 0 || !proof.Siblings[depth - 1].Span.SequenceEqual(siblingHash))
            {
                throw new MerkleProofException(MerkleProofError.Inconsistent, $"{field}: does not hash to the deepest sibling");
            }

            store.Put(siblingHash, deepest);
        }

        return current;
    }

    private byte[] SetAt(byte[] hash, int depth, MerkleLeafNode leaf, byte[] leafHash)
    {
        if (MerkleHashing.IsEmpty(hash))
        {
            return leafHash;
        }

        MerkleNode node = Load(hash, depth);
        if (node is MerkleLeafNode existing)
        {
            if (existing.Key.AsSpan().SequenceEqual(leaf.Key))
            {
                return leafHash;
            }

            RequireOnPath(existing.Key, leaf.Key, depth);
            return Split(existing, hash, leaf, leafHash, depth);
        }

        var interior = (MerkleInteriorNode)node;
        RequireDepth(depth);
        return MerkleHashing.Bit(leaf.Key, depth) == 0
            ? Put(new MerkleInteriorNode(SetAt(interior.Left, depth + 1, leaf, leafHash), interior.Right))
            : Put(new MerkleInteriorNode(interior.Left, SetAt(interior.Right, depth + 1, leaf, leafHash)));
    }

    // Two leaves share the subtree at `depth`: push them down until their keys part.
    private byte[] Split(MerkleLeafNode a, byte[] aHash, MerkleLeafNode b, byte[] bHash, int depth)
    {
        RequireDepth(depth);
        int bitA = MerkleHashing.Bit(a.Key, depth);
        int bitB = MerkleHashing.Bit(b.Key, depth);
        if (bitA != bitB)
        {
            return bitA == 0 ? Put(new MerkleInteriorNode(aHash, bHash)) : Put(new MerkleInteriorNode(bHash, aHash));
        }

        byte[] child = Split(a, aHash, b, bHash, depth + 1);
        byte[] empty = MerkleHashing.Empty.ToArray();
        return bitA == 0 ? Put(new MerkleInteriorNode(child, empty)) : Put(new MerkleInteriorNode(empty, child));
    }

    private byte[] RemoveAt(byte[] hash, int depth, byte[] key)
    {
        if (MerkleHashing.IsEmpty(hash))
        {
            return hash;
        }

        MerkleNode node = Load(hash, depth);
        if (node is MerkleLeafNode leaf)
        {
            return leaf.Key.AsSpan().SequenceEqual(key) ? MerkleHashing.Empty.ToArray() : hash;
        }

        var interior = (MerkleInteriorNode)node;
        RequireDepth(depth);
        bool right = MerkleHashing.Bit(key, depth) == 1;
        byte[] child = right ? interior.Right : interior.Left;
        byte[] other = right ? interior.Left : interior.Right;
        byte[] newChild = RemoveAt(child, depth + 1, key);
        if (newChild.AsSpan().SequenceEqual(child))
        {
            return hash;
        }

        // Keep the tree compact: a subtree left with a single leaf becomes that leaf. Whether the
        // other child is a leaf must be known, not guessed: over a store filled from proofs, an
        // unknown sibling is refused (a proof without the deepest sibling's preimage cannot remove).
        if (MerkleHashing.IsEmpty(newChild) && (MerkleHashing.IsEmpty(other) || IsLeaf(other, depth + 1)))
        {
            return other;
        }

        if (MerkleHashing.IsEmpty(other) && IsLeaf(newChild, depth + 1))
        {
            return newChild;
        }

        return right ? Put(new MerkleInteriorNode(other, newChild)) : Put(new MerkleInteriorNode(newChild, other));
    }

    private bool IsLeaf(byte[] hash, int depth) =>
        Load(hash, depth, ", so a removal cannot tell whether to lift it (the proof lacks the deepest sibling's preimage)") is MerkleLeafNode;

    private static ByteString ChildBytes(byte[] child) => MerkleHashing.IsEmpty(child) ? ByteString.Empty : ByteString.CopyFrom(child);

    private MerkleNode Load(byte[] hash, int depth, string why = " (the proof does not lead to this root)")
    {
        if (!_store.TryGet(hash, out MerkleNode node))
        {
            throw new MerkleProofException(MerkleProofError.MissingNode, $"tree node at depth {depth}: unknown{why}");
        }

        return node;
    }

    private byte[] Put(MerkleNode node)
    {
        byte[] hash = node.ComputeHash();
        _store.Put(hash, node);
        return hash;
    }

    private static void RequireKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != MerkleHashing.HashBytes)
        {
            throw new ArgumentException($"key: {key.Length} bytes, expected {MerkleHashing.HashBytes}", nameof(key));
        }
    }

    private static void RequireDepth(int depth)
    {
        if (depth >= MerkleHashing.KeyBits)
        {
            throw new MerkleProofException(MerkleProofError.Inconsistent, $"tree path: deeper than {MerkleHashing.KeyBits} bits");
        }
    }

    private static void RequireOnPath(byte[] leafKey, ReadOnlySpan<byte> key, int depth)
    {
        if (!MerkleHashing.SharePrefix(leafKey, key, depth))
        {
            throw new MerkleProofException(MerkleProofError.Inconsistent, $"tree leaf at depth {depth}: its key does not lie on this path");
        }
    }

    private static MerkleLeaf ToMessage(MerkleLeafNode leaf) => new()
    {
        Key = ByteString.CopyFrom(leaf.Key),
        ValueHash = ByteString.CopyFrom(leaf.ValueHash),
    };

    private static MerkleInteriorNode FromMessage(MerkleInterior interior, string field)
    {
        return new MerkleInteriorNode(Child(interior.Left, $"{field}.left"), Child(interior.Right, $"{field}.right"));

        static byte[] Child(ByteString child, string name) => child.Length switch
        {
            0 => MerkleHashing.Empty.ToArray(),
            MerkleHashing.HashBytes => child.ToByteArray(),
            _ => throw new MerkleProofException(MerkleProofError.Malformed, $"{name}: {child.Length} bytes, expected 0 or {MerkleHashing.HashBytes}"),
        };
    }

    private static MerkleLeafNode FromMessage(MerkleLeaf leaf, string field)
    {
        if (leaf.Key.Length != MerkleHashing.HashBytes || leaf.ValueHash.Length != MerkleHashing.HashBytes)
        {
            throw new MerkleProofException(MerkleProofError.Malformed, $"{field}: key and value_hash must be {MerkleHashing.HashBytes} bytes each");
        }

        return new MerkleLeafNode(leaf.Key.ToByteArray(), leaf.ValueHash.ToByteArray());
    }
}
