using System.Text.Json;
using HsmVault.Transparency.Merkle;

namespace HsmVault.Transparency.Tests;

[TestClass]
public sealed class Rfc6962Tests
{
    private static readonly JsonElement Vectors = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Vectors", "rfc6962.json"))).RootElement;

    private static byte[][] ReferenceLeaves => [.. Vectors.GetProperty("leaves").EnumerateArray().Select(e => Convert.FromHexString(e.GetString()!))];

    [TestMethod]
    public void Roots_of_the_reference_leaves_are_the_published_ones_for_every_size()
    {
        var log = new MerkleLog();
        string[] roots = [.. Vectors.GetProperty("roots").EnumerateArray().Select(e => e.GetString()!)];
        Assert.AreEqual(roots[0], Convert.ToHexStringLower(log.Root(0)));
        Assert.AreEqual(roots[0], Convert.ToHexStringLower(Rfc6962.EmptyRoot.ToArray()));
        foreach (byte[] leaf in ReferenceLeaves)
        {
            log.Append(Rfc6962.LeafHash(leaf));
        }

        for (int size = 0; size < roots.Length; size++)
        {
            Assert.AreEqual(roots[size], Convert.ToHexStringLower(log.Root(size)), $"root at size {size}");
        }
    }

    [TestMethod]
    public void Published_inclusion_proofs_are_produced_and_verify_and_every_corruption_fails()
    {
        MerkleLog log = ReferenceLog();
        foreach (JsonElement vector in Vectors.GetProperty("inclusion").EnumerateArray())
        {
            long index = vector.GetProperty("index").GetInt64();
            long size = vector.GetProperty("size").GetInt64();
            List<byte[]> proof = [.. vector.GetProperty("proof").EnumerateArray().Select(e => Convert.FromHexString(e.GetString()!))];
            byte[] leaf = log.LeafHash(index);
            byte[] root = log.Root(size);
            AssertSameHashes(proof, log.InclusionProof(index, size), $"inclusion {index} in {size}");
            Assert.IsTrue(Rfc6962.VerifyInclusion(index, size, leaf, proof, root), $"inclusion {index} in {size}");
            foreach ((string what, long i, long n, byte[] l, IReadOnlyList<byte[]> p, byte[] r) in InclusionCorruptions(index, size, leaf, proof, root))
            {
                Assert.IsFalse(Rfc6962.VerifyInclusion(i, n, l, p, r), $"inclusion {index} in {size} accepted with {what}");
            }
        }
    }

    [TestMethod]
    public void Published_consistency_proofs_are_produced_and_verify_and_every_corruption_fails()
    {
        MerkleLog log = ReferenceLog();
        foreach (JsonElement vector in Vectors.GetProperty("consistency").EnumerateArray())
        {
            long size1 = vector.GetProperty("size1").GetInt64();
            long size2 = vector.GetProperty("size2").GetInt64();
            List<byte[]> proof = [.. vector.GetProperty("proof").EnumerateArray().Select(e => Convert.FromHexString(e.GetString()!))];
            byte[] root1 = log.Root(size1);
            byte[] root2 = log.Root(size2);
            AssertSameHashes(proof, log.ConsistencyProof(size1, size2), $"consistency {size1} to {size2}");
            Assert.IsTrue(Rfc6962.VerifyConsistency(size1, size2, proof, root1, root2), $"consistency {size1} to {size2}");
            if (proof.Count == 0)
            {
                continue;
            }

            foreach ((string what, long a, long b, IReadOnlyList<byte[]> p, byte[] r1, byte[] r2) in ConsistencyCorruptions(size1, size2, proof, root1, root2))
            {
                Assert.IsFalse(Rfc6962.VerifyConsistency(a, b, p, r1, r2), $"consistency {size1} to {size2} accepted with {what}");
            }
        }
    }

    [TestMethod]
    public void Every_inclusion_proof_of_every_size_up_to_70_equals_the_recursive_definition_and_verifies()
    {
        List<byte[]> data = SyntheticEntries(70);
        var log = new MerkleLog();
        for (int n = 1; n <= data.Count; n++)
        {
            byte[] predicted = log.RootAfterAppending(Rfc6962.LeafHash(data[n - 1]));
            log.Append(Rfc6962.LeafHash(data[n - 1]));
            CollectionAssert.AreEqual(log.Root(n), predicted, $"predicted root at size {n}");
            List<byte[]> prefix = data[..n];
            byte[] root = NaiveMerkle.Mth(prefix);
            CollectionAssert.AreEqual(root, log.Root(n), $"root at size {n}");
            for (int m = 0; m < n; m++)
            {
                IReadOnlyList<byte[]> proof = log.InclusionProof(m, n);
                AssertSameHashes(NaiveMerkle.Path(m, prefix), proof, $"inclusion {m} in {n}");
                Assert.IsTrue(Rfc6962.VerifyInclusion(m, n, Rfc6962.LeafHash(data[m]), proof, root), $"inclusion {m} in {n}");
                if (n > 1)
                {
                    Assert.IsFalse(Rfc6962.VerifyInclusion(m, n, Rfc6962.LeafHash(data[(m + 1) % n]), proof, root), $"another leaf at {m} in {n}");
                }
            }
        }

        // Earlier sizes stay answerable after the log grew.
        for (int n = 1; n <= data.Count; n += 7)
        {
            CollectionAssert.AreEqual(NaiveMerkle.Mth(data[..n]), log.Root(n), $"old root at size {n}");
            AssertSameHashes(NaiveMerkle.Path(n / 2, data[..n]), log.InclusionProof(n / 2, n), $"old inclusion {n / 2} in {n}");
        }
    }

    [TestMethod]
    public void Every_consistency_proof_between_sizes_up_to_70_equals_the_recursive_definition_and_verifies()
    {
        List<byte[]> data = SyntheticEntries(70);
        var log = new MerkleLog();
        data.ForEach(entry => log.Append(Rfc6962.LeafHash(entry)));
        for (int n = 1; n <= data.Count; n++)
        {
            byte[] root2 = log.Root(n);
            for (int m = 1; m <= n; m++)
            {
                IReadOnlyList<byte[]> proof = log.ConsistencyProof(m, n);
                AssertSameHashes(NaiveMerkle.Proof(m, data[..n]), proof, $"consistency {m} to {n}");
                byte[] root1 = log.Root(m);
                Assert.IsTrue(Rfc6962.VerifyConsistency(m, n, proof, root1, root2), $"consistency {m} to {n}");
                if (m < n)
                {
                    // A fork: the same old size with one leaf changed is not consistent with the new tree.
                    List<byte[]> forked = [.. data[..m]];
                    forked[m - 1] = [.. forked[m - 1], 0xff];
                    Assert.IsFalse(Rfc6962.VerifyConsistency(m, n, proof, NaiveMerkle.Mth(forked), root2), $"forked {m} to {n}");
                }
            }
        }
    }

    [TestMethod]
    public void Trivial_and_impossible_consistency_cases_follow_the_reference_verifier()
    {
        byte[] empty = Rfc6962.EmptyRoot.ToArray();
        byte[] some = Convert.FromHexString("abacaba000000000000000000000000000000000000000000060061e00123456");
        Assert.IsTrue(Rfc6962.VerifyConsistency(0, 0, [], empty, empty));
        Assert.IsTrue(Rfc6962.VerifyConsistency(0, 1, [], empty, some));
        Assert.IsTrue(Rfc6962.VerifyConsistency(1, 1, [], some, some));
        Assert.IsFalse(Rfc6962.VerifyConsistency(1, 1, [], some, empty), "equal sizes, different roots");
        Assert.IsFalse(Rfc6962.VerifyConsistency(1, 0, [], some, empty), "time travel");
        Assert.IsFalse(Rfc6962.VerifyConsistency(2, 1, [], some, empty), "time travel");
        Assert.IsFalse(Rfc6962.VerifyConsistency(1, 2, [], some, empty), "empty proof");
        Assert.IsFalse(Rfc6962.VerifyConsistency(0, 0, [empty], empty, empty), "proof where none is due");
        Assert.IsFalse(Rfc6962.VerifyConsistency(0, 1, [empty], empty, empty), "proof where none is due");
        Assert.IsFalse(Rfc6962.VerifyConsistency(1, 1, [empty], empty, empty), "proof where none is due");
    }

    [TestMethod]
    public void Inclusion_in_an_empty_or_too_small_tree_and_wrong_lengths_are_refused()
    {
        byte[] some = Convert.FromHexString("abacaba000000000000000000000000000000000000000000060061e00123456");
        foreach ((long index, long size) in new (long, long)[] { (0, 0), (1, 0), (2, 1), (-1, 1) })
        {
            Assert.IsFalse(Rfc6962.VerifyInclusion(index, size, some, [], Rfc6962.EmptyRoot), $"{index} in {size}");
        }

        byte[] leaf = Rfc6962.LeafHash("data"u8);
        Assert.IsTrue(Rfc6962.VerifyInclusion(0, 1, leaf, [], leaf), "a one-leaf tree's root is its leaf");
        Assert.IsFalse(Rfc6962.VerifyInclusion(0, 1, [], [], leaf));
        Assert.IsFalse(Rfc6962.VerifyInclusion(0, 1, leaf, [], []));
    }

    private static MerkleLog ReferenceLog()
    {
        var log = new MerkleLog();
        foreach (byte[] leaf in ReferenceLeaves)
        {
            log.Append(Rfc6962.LeafHash(leaf));
        }

        return log;
    }

    private static List<byte[]> SyntheticEntries(int count) => [.. Enumerable.Range(0, count).Select(i => new byte[] { (byte)i, (byte)(i * 7), (byte)(i >> 3) })];

    private static void AssertSameHashes(IReadOnlyList<byte[]> expected, IReadOnlyList<byte[]> actual, string what)
    {
        Assert.AreEqual(expected.Count, actual.Count, $"{what}: proof length");
        for (int i = 0; i < expected.Count; i++)
        {
            CollectionAssert.AreEqual(expected[i], actual[i], $"{what}: hash {i}");
        }
    }

    // The probes of the reference implementation's verifier tests, rewritten here.
    private static IEnumerable<(string, long, long, byte[], IReadOnlyList<byte[]>, byte[])> InclusionCorruptions(long index, long size, byte[] leaf, List<byte[]> proof, byte[] root)
    {
        byte[] some = Convert.FromHexString("abacaba000000000000000000000000000000000000000000060061e00123456");
        yield return ("index - 1", index - 1, size, leaf, proof, root);
        yield return ("index + 1", index + 1, size, leaf, proof, root);
        yield return ("index ^ 2", index ^ 2, size, leaf, proof, root);
        yield return ("size * 2", index, size * 2, leaf, proof, root);
        yield return ("size / 2", index, size / 2, leaf, proof, root);
        yield return ("wrong leaf", index, size, "WrongLeaf"u8.ToArray(), proof, root);
        yield return ("empty root", index, size, leaf, proof, Rfc6962.EmptyRoot.ToArray());
        yield return ("random root", index, size, leaf, proof, some);
        yield return ("trailing garbage", index, size, leaf, [.. proof, Array.Empty<byte>()], root);
        yield return ("trailing root", index, size, leaf, [.. proof, root], root);
        yield return ("preceding garbage", index, size, leaf, [Array.Empty<byte>(), .. proof], root);
        yield return ("preceding root", index, size, leaf, [root, .. proof], root);
        for (int i = 0; i < proof.Count; i++)
        {
            List<byte[]> flipped = [.. proof];
            flipped[i] = [.. proof[i]];
            flipped[i][0] ^= 8;
            yield return ($"proof[{i}] bit 3 flipped", index, size, leaf, flipped, root);
        }

        if (proof.Count > 0)
        {
            yield return ("removed component", index, size, leaf, proof[..^1], root);
        }

        if (proof.Count > 1)
        {
            yield return ("inserted component", index, size, leaf, [proof[0], some, .. proof[1..]], root);
        }
    }

    private static IEnumerable<(string, long, long, IReadOnlyList<byte[]>, byte[], byte[])> ConsistencyCorruptions(long size1, long size2, List<byte[]> proof, byte[] root1, byte[] root2)
    {
        yield return ("size1 - 1", size1 - 1, size2, proof, root1, root2);
        yield return ("size1 + 1", size1 + 1, size2, proof, root1, root2);
        yield return ("size1 ^ 2", size1 ^ 2, size2, proof, root1, root2);
        yield return ("size2 * 2", size1, size2 * 2, proof, root1, root2);
        yield return ("size2 / 2", size1, size2 / 2, proof, root1, root2);
        yield return ("wrong root1", size1, size2, proof, "WrongRoot"u8.ToArray(), root2);
        yield return ("wrong root2", size1, size2, proof, root1, "WrongRoot"u8.ToArray());
        yield return ("swapped roots", size1, size2, proof, root2, root1);
        yield return ("empty proof", size1, size2, [], root1, root2);
        yield return ("trailing garbage", size1, size2, [.. proof, Array.Empty<byte>()], root1, root2);
        yield return ("trailing root1", size1, size2, [.. proof, root1], root1, root2);
        yield return ("trailing root2", size1, size2, [.. proof, root2], root1, root2);
        yield return ("preceding garbage", size1, size2, [Array.Empty<byte>(), .. proof], root1, root2);
        yield return ("preceding root1", size1, size2, [root1, .. proof], root1, root2);
        yield return ("preceding root2", size1, size2, [root2, .. proof], root1, root2);
        yield return ("preceding proof[0]", size1, size2, [proof[0], .. proof], root1, root2);
        yield return ("truncated proof", size1, size2, proof[..^1], root1, root2);
        for (int i = 0; i < proof.Count; i++)
        {
            List<byte[]> flipped = [.. proof];
            flipped[i] = [.. proof[i]];
            flipped[i][0] ^= 16;
            yield return ($"proof[{i}] bit 4 flipped", size1, size2, flipped, root1, root2);
        }
    }
}
