using System.Security.Cryptography;
using Google.Protobuf;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Tests.Protocol;

[TestClass]
public sealed class SparseMerkleTreeTests
{
    private static byte[] Key(int i) => MerkleHashing.UserKey($"user-{i}");

    private static byte[] Value(int i, int generation = 0) => SHA256.HashData(BitConverter.GetBytes((i * 1000) + generation));

    // Checks a proof the way the enclave does: only nodes implied by the proof, walked from the trusted root.
    private static byte[]? FindWithProof(byte[] root, byte[] key, MerkleProof proof)
    {
        var scratch = new InMemoryMerkleNodeStore();
        SparseMerkleTree.AddProof(scratch, key, proof);
        return new SparseMerkleTree(scratch, root).Find(key);
    }

    [TestMethod]
    public void Membership_and_non_membership_proofs_verify_against_the_root()
    {
        var tree = new SparseMerkleTree(new InMemoryMerkleNodeStore());
        for (int i = 0; i < 200; i++)
        {
            tree.Set(Key(i), Value(i));
        }

        for (int i = 0; i < 200; i++)
        {
            CollectionAssert.AreEqual(Value(i), FindWithProof(tree.Root, Key(i), tree.Prove(Key(i))));
        }

        for (int i = 200; i < 300; i++)
        {
            Assert.IsNull(FindWithProof(tree.Root, Key(i), tree.Prove(Key(i))));
        }
    }

    [TestMethod]
    public void The_root_depends_only_on_the_contents_not_on_the_order_of_updates()
    {
        var forward = new SparseMerkleTree(new InMemoryMerkleNodeStore());
        var backward = new SparseMerkleTree(new InMemoryMerkleNodeStore());
        for (int i = 0; i < 100; i++)
        {
            forward.Set(Key(i), Value(i));
            backward.Set(Key(99 - i), Value(99 - i));
        }

        for (int i = 100; i < 150; i++)
        {
            forward.Set(Key(i), Value(i));
        }

        for (int i = 100; i < 150; i++)
        {
            Assert.IsTrue(forward.Remove(Key(i)));
        }

        CollectionAssert.AreEqual(backward.Root, forward.Root);
        Assert.IsFalse(forward.Remove(Key(500)), "removing an absent key changes nothing");
        CollectionAssert.AreEqual(backward.Root, forward.Root);
    }

    [TestMethod]
    public void Removing_every_leaf_gives_back_the_empty_root()
    {
        var tree = new SparseMerkleTree(new InMemoryMerkleNodeStore());
        for (int i = 0; i < 64; i++)
        {
            tree.Set(Key(i), Value(i));
        }

        for (int i = 0; i < 64; i++)
        {
            tree.Remove(Key(i));
        }

        Assert.IsTrue(MerkleHashing.IsEmpty(tree.Root));
    }

    [TestMethod]
    public void A_single_leaf_tree_has_the_leaf_as_its_root()
    {
        var tree = new SparseMerkleTree(new InMemoryMerkleNodeStore());
        tree.Set(Key(1), Value(1));
        CollectionAssert.AreEqual(MerkleHashing.Leaf(Key(1), Value(1)), tree.Root);
        Assert.AreEqual(0, tree.Prove(Key(1)).Siblings.Count);
    }

    [TestMethod]
    public void A_tampered_sibling_makes_the_proof_fail()
    {
        var tree = Populated(100);
        MerkleProof proof = tree.Prove(Key(5));
        byte[] sibling = proof.Siblings[0].ToByteArray();
        sibling[3] ^= 1;
        proof.Siblings[0] = ByteString.CopyFrom(sibling);
        var error = Assert.ThrowsExactly<MerkleProofException>(() => FindWithProof(tree.Root, Key(5), proof));
        Assert.AreEqual(MerkleProofError.MissingNode, error.Error);
    }

    [TestMethod]
    public void A_tampered_value_hash_makes_the_proof_fail()
    {
        var tree = Populated(100);
        MerkleProof proof = tree.Prove(Key(5));
        proof.Terminal.ValueHash = ByteString.CopyFrom(Value(6));
        Assert.ThrowsExactly<MerkleProofException>(() => FindWithProof(tree.Root, Key(5), proof));
    }

    [TestMethod]
    public void A_forged_non_membership_proof_for_a_present_key_fails()
    {
        var tree = Populated(100);
        MerkleProof proof = tree.Prove(Key(5));
        proof.Terminal = null;
        Assert.ThrowsExactly<MerkleProofException>(() => FindWithProof(tree.Root, Key(5), proof));

        // The proof of an absent key, replayed for a present key, does not lead to the root either.
        MerkleProof other = tree.Prove(Key(1000));
        Assert.ThrowsExactly<MerkleProofException>(() => FindWithProof(tree.Root, Key(5), other));
    }

    [TestMethod]
    public void A_proof_against_an_older_root_fails_for_the_changed_key()
    {
        var tree = Populated(100);
        MerkleProof old = tree.Prove(Key(5));
        tree.Set(Key(5), Value(5, generation: 1));
        Assert.ThrowsExactly<MerkleProofException>(() => FindWithProof(tree.Root, Key(5), old));
    }

    [TestMethod]
    public void Malformed_proofs_are_rejected_with_the_field_named()
    {
        var proof = new MerkleProof();
        proof.Siblings.Add(ByteString.CopyFrom(new byte[31]));
        var error = Assert.ThrowsExactly<MerkleProofException>(() => SparseMerkleTree.AddProof(new InMemoryMerkleNodeStore(), Key(1), proof));
        Assert.AreEqual(MerkleProofError.Malformed, error.Error);
        StringAssert.Contains(error.Message, "siblings[0]");

        var deep = new MerkleProof();
        for (int i = 0; i < 257; i++)
        {
            deep.Siblings.Add(ByteString.Empty);
        }

        Assert.AreEqual(MerkleProofError.Malformed, Assert.ThrowsExactly<MerkleProofException>(
            () => SparseMerkleTree.AddProof(new InMemoryMerkleNodeStore(), Key(1), deep)).Error);
    }

    [TestMethod]
    public void A_terminal_leaf_off_the_key_path_is_rejected()
    {
        byte[] key = new byte[32];
        byte[] otherKey = new byte[32];
        otherKey[0] = 0x80;
        var proof = new MerkleProof { Terminal = new MerkleLeaf { Key = ByteString.CopyFrom(otherKey), ValueHash = ByteString.CopyFrom(Value(1)) } };
        proof.Siblings.Add(ByteString.Empty);
        Assert.AreEqual(MerkleProofError.Inconsistent, Assert.ThrowsExactly<MerkleProofException>(
            () => SparseMerkleTree.AddProof(new InMemoryMerkleNodeStore(), key, proof)).Error);
    }

    [TestMethod]
    public void Updates_replayed_on_a_scratch_tree_from_proofs_match_the_full_tree()
    {
        // The enclave applies a batch to a scratch store holding only the batch's proofs
        // (all built against the starting root) and must reach the host's root.
        var full = Populated(300);
        var rng = new Random(7);
        int retried = 0, removed = 0;
        for (int round = 0; round < 30; round++)
        {
            var scratch = new InMemoryMerkleNodeStore();
            var ops = Enumerable.Range(0, 8).Select(_ => rng.Next(450)).Distinct().ToList();
            foreach (int k in ops)
            {
                SparseMerkleTree.AddProof(scratch, Key(k), full.Prove(Key(k)));
            }

            var partial = new SparseMerkleTree(scratch, full.Root);
            foreach (int k in ops)
            {
                if (rng.Next(3) == 0)
                {
                    bool present = full.Find(Key(k)) is not null;
                    bool done;
                    try
                    {
                        done = partial.Remove(Key(k));
                    }
                    catch (MerkleProofException ex) when (ex.Error == MerkleProofError.MissingNode)
                    {
                        // An earlier removal in the batch lifted this key's leaf, so the sibling that now
                        // decides the lift is one its proof gave only as a hash. The removal is refused
                        // (the enclave answers a stale witness) and succeeds with a proof against the new root.
                        CollectionAssert.AreEqual(full.Root, partial.Root, "a refused removal moves nothing");
                        SparseMerkleTree.AddProof(scratch, Key(k), full.Prove(Key(k)));
                        done = partial.Remove(Key(k));
                        retried++;
                    }

                    Assert.AreEqual(full.Remove(Key(k)), done);
                    removed += present ? 1 : 0;
                }
                else
                {
                    full.Set(Key(k), Value(k, round + 1));
                    partial.Set(Key(k), Value(k, round + 1));
                }

                CollectionAssert.AreEqual(full.Root, partial.Root, $"round {round}, key {k}");
            }
        }

        Console.WriteLine($"{removed} removals of present keys, {retried} refused until a fresh proof");
        Assert.IsTrue(removed > 20, $"only {removed} removals of present keys");
    }

    [TestMethod]
    public void Every_proof_names_its_deepest_sibling_whether_leaf_or_interior_and_removal_over_it_matches_the_full_tree()
    {
        var full = Populated(300);
        int leaves = 0, interiors = 0;
        for (int k = 0; k < 300; k++)
        {
            MerkleProof proof = full.Prove(Key(k));
            bool emptySibling = proof.Siblings.Count == 0 || proof.Siblings[^1].IsEmpty;
            Assert.AreEqual(!emptySibling, proof.DeepestSiblingLeaf is not null || proof.DeepestSiblingInterior is not null, $"key {k}");
            leaves += proof.DeepestSiblingLeaf is null ? 0 : 1;
            interiors += proof.DeepestSiblingInterior is null ? 0 : 1;

            var scratch = new InMemoryMerkleNodeStore();
            SparseMerkleTree.AddProof(scratch, Key(k), proof);
            var partial = new SparseMerkleTree(scratch, full.Root);
            var reference = new SparseMerkleTree(Copy(full, 300), full.Root);
            Assert.IsTrue(partial.Remove(Key(k)));
            Assert.IsTrue(reference.Remove(Key(k)));
            CollectionAssert.AreEqual(reference.Root, partial.Root, $"removing key {k} over its proof");
        }

        Console.WriteLine($"deepest siblings among 300 keys: {leaves} leaves, {interiors} interior nodes");
        Assert.IsTrue(leaves > 0 && interiors > 0, "both kinds of deepest sibling must occur for the test to mean anything");
    }

    [TestMethod]
    public void A_removal_over_a_proof_that_withholds_the_deepest_sibling_is_refused_not_guessed()
    {
        // Finding F1: without the preimage, Remove used to treat the sibling as an interior node and,
        // when it was really a lone leaf, computed a root the full tree never reaches.
        var full = Populated(300);
        foreach (bool leafSibling in new[] { true, false })
        {
            int k = Enumerable.Range(0, 300).First(i => leafSibling ? full.Prove(Key(i)).DeepestSiblingLeaf is not null : full.Prove(Key(i)).DeepestSiblingInterior is not null);
            MerkleProof withheld = full.Prove(Key(k));
            withheld.DeepestSiblingLeaf = null;
            withheld.DeepestSiblingInterior = null;
            var scratch = new InMemoryMerkleNodeStore();
            SparseMerkleTree.AddProof(scratch, Key(k), withheld);
            var partial = new SparseMerkleTree(scratch, full.Root);
            CollectionAssert.AreEqual(Value(k), partial.Find(Key(k)), "lookups need no preimage");
            byte[] before = partial.Root;
            var error = Assert.ThrowsExactly<MerkleProofException>(() => partial.Remove(Key(k)));
            Assert.AreEqual(MerkleProofError.MissingNode, error.Error, error.Message);
            StringAssert.Contains(error.Message, "deepest sibling");
            CollectionAssert.AreEqual(before, partial.Root, "a refused removal moves nothing");
        }
    }

    [TestMethod]
    public void A_forged_deepest_sibling_preimage_is_rejected()
    {
        var full = Populated(300);
        int k = Enumerable.Range(0, 300).First(i => full.Prove(Key(i)).DeepestSiblingInterior is not null);
        int j = Enumerable.Range(0, 300).First(i => full.Prove(Key(i)).DeepestSiblingLeaf is not null);

        MerkleProof swapped = full.Prove(Key(k));
        swapped.DeepestSiblingInterior.Left = ByteString.CopyFrom(Value(1));
        Assert.AreEqual(MerkleProofError.Inconsistent, Add(k, swapped));

        MerkleProof asLeaf = full.Prove(Key(k));
        asLeaf.DeepestSiblingInterior = null;
        asLeaf.DeepestSiblingLeaf = full.Prove(Key(j)).DeepestSiblingLeaf;
        Assert.AreEqual(MerkleProofError.Inconsistent, Add(k, asLeaf), "a leaf that does not hash to the sibling");

        MerkleProof both = full.Prove(Key(k));
        both.DeepestSiblingLeaf = full.Prove(Key(j)).DeepestSiblingLeaf;
        Assert.AreEqual(MerkleProofError.Malformed, Add(k, both), "a node is a leaf or an interior node, not both");

        MerkleProof shortChild = full.Prove(Key(k));
        shortChild.DeepestSiblingInterior.Right = ByteString.CopyFrom(new byte[31]);
        Assert.AreEqual(MerkleProofError.Malformed, Add(k, shortChild));

        MerkleProof noSiblings = new() { Terminal = full.Prove(Key(k)).Terminal, DeepestSiblingInterior = full.Prove(Key(k)).DeepestSiblingInterior };
        Assert.AreEqual(MerkleProofError.Inconsistent, Add(k, noSiblings), "a preimage with no sibling to match");

        static MerkleProofError Add(int key, MerkleProof proof) => Assert.ThrowsExactly<MerkleProofException>(
            () => SparseMerkleTree.AddProof(new InMemoryMerkleNodeStore(), Key(key), proof)).Error;
    }

    private static InMemoryMerkleNodeStore Copy(SparseMerkleTree source, int n)
    {
        // The full tree's nodes, rebuilt in a fresh store (the same contents give the same nodes).
        var store = new InMemoryMerkleNodeStore();
        var copy = new SparseMerkleTree(store);
        for (int i = 0; i < n; i++)
        {
            copy.Set(Key(i), Value(i));
        }

        CollectionAssert.AreEqual(source.Root, copy.Root);
        return store;
    }

    [TestMethod]
    public void Proof_length_grows_with_log2_of_the_number_of_records()
    {
        var tree = new SparseMerkleTree(new InMemoryMerkleNodeStore());
        int inserted = 0;
        foreach (int n in new[] { 100, 1_000, 10_000 })
        {
            for (; inserted < n; inserted++)
            {
                tree.Set(Key(inserted), Value(inserted));
            }

            double mean = Enumerable.Range(0, 200).Average(i => tree.Prove(Key(i * n / 200)).Siblings.Count);
            int max = Enumerable.Range(0, 200).Max(i => tree.Prove(Key(i * n / 200)).Siblings.Count);
            double log2 = Math.Log2(n);
            Console.WriteLine($"n={n}: mean proof length {mean:F1}, longest {max}, log2(n)={log2:F1}");
            Assert.IsTrue(mean > log2 - 2 && mean < log2 + 3, $"n={n}: mean proof length {mean:F1}, log2(n)={log2:F1}");
            Assert.IsTrue(max < 2 * log2 + 8, $"n={n}: longest proof {max}, log2(n)={log2:F1}");
        }
    }

    private static SparseMerkleTree Populated(int n)
    {
        var tree = new SparseMerkleTree(new InMemoryMerkleNodeStore());
        for (int i = 0; i < n; i++)
        {
            tree.Set(Key(i), Value(i));
        }

        return tree;
    }
}
