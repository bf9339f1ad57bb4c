using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Merkle;
using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Tests;

[TestClass]
public sealed class CheckpointTests
{
    private static readonly JsonElement Example = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Vectors", "signed-note.json"))).RootElement.GetProperty("c2sp_checkpoint_example");

    [TestMethod]
    public void The_specification_example_checkpoint_reads_and_writes_back_byte_for_byte()
    {
        string text = Example.GetProperty("note").GetString()!;
        SignedNote note = SignedNote.Parse(Encoding.UTF8.GetBytes(text));
        Checkpoint checkpoint = Checkpoint.Parse(note.Text);
        Assert.AreEqual(Example.GetProperty("origin").GetString(), checkpoint.Origin);
        Assert.AreEqual(Example.GetProperty("size").GetInt64(), checkpoint.Size);
        Assert.AreEqual(Example.GetProperty("root").GetString(), Convert.ToBase64String(checkpoint.RootHash));
        Assert.AreEqual(note.Text, checkpoint.ToText());
        Assert.AreEqual(text, note.ToString());
        Assert.AreEqual(2, note.Signatures.Count);
        Assert.AreEqual(Ed25519.SignatureLength, note.Signatures[0].Signature.Length, "the log's Ed25519 signature");
    }

    [TestMethod]
    public void The_specification_example_cosignature_carries_the_timestamp_of_its_example_message()
    {
        SignedNote note = SignedNote.Parse(Example.GetProperty("note").GetString()!);
        NoteSignature cosignature = note.Signatures[1];
        Assert.AreEqual("witness.example.com/w1", cosignature.Name);
        Assert.IsTrue(Cosignature.TryRead(cosignature.Signature, out ulong timestamp, out ReadOnlySpan<byte> ed25519));
        Assert.AreEqual((ulong)Example.GetProperty("cosignature_timestamp").GetInt64(), timestamp);
        Assert.AreEqual(Ed25519.SignatureLength, ed25519.Length);
        byte[] message = Cosignature.SignedMessage(timestamp, note.TextBytes);
        Assert.AreEqual(Example.GetProperty("cosigned_message").GetString(), Encoding.UTF8.GetString(message));
    }

    [TestMethod]
    public void A_cosignature_verifies_under_its_type_4_key_and_not_under_a_type_1_key_of_the_same_seed()
    {
        byte[] seed = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];
        using NoteSigningKey cosigner = NoteSigningKey.FromSeed("witness.example/w1", NoteSignatureType.Ed25519Cosignature, seed);
        using NoteSigningKey plain = NoteSigningKey.FromSeed("witness.example/w1", NoteSignatureType.Ed25519, seed);
        Assert.AreNotEqual(cosigner.KeyId, plain.KeyId, "the type byte is in the key ID");
        string text = new Checkpoint("example.com/log", 5, new byte[32]).ToText();
        NoteSignature line = Cosignature.Sign(cosigner, 1_700_000_000, text);
        SignedNote note = SignedNote.Create(text, [line]);
        Assert.AreEqual(cosigner.Verifier, note.Verify([cosigner.Verifier]).Single());
        Assert.AreEqual(NoteVerificationError.NoVerifiableSignature, Assert.ThrowsExactly<NoteVerificationException>(() => note.Verify([plain.Verifier])).Error);

        byte[] bytes = line.Signature;
        BinaryPrimitives.WriteUInt64BigEndian(bytes, 1_700_000_001);
        SignedNote retimed = SignedNote.Create(text, [new NoteSignature(line.Name, line.KeyId, bytes)]);
        Assert.AreEqual(NoteVerificationError.InvalidSignature, Assert.ThrowsExactly<NoteVerificationException>(() => retimed.Verify([cosigner.Verifier])).Error, "the timestamp is signed");
    }

    [TestMethod]
    public void Malformed_checkpoint_bodies_are_refused()
    {
        string root = Convert.ToBase64String(new byte[32]);
        foreach (string bad in new[]
        {
            $"origin\n5\n{root}",
            "origin\n5\n",
            $"origin\n05\n{root}\n",
            $"origin\n-5\n{root}\n",
            $"origin\n5\n{Convert.ToBase64String(new byte[31])}\n",
            $"\n5\n{root}\n",
            $"origin\n5\n{root}\n\n",
            $"origin\n18446744073709551616\n{root}\n",
        })
        {
            Assert.ThrowsExactly<NoteFormatException>(() => Checkpoint.Parse(bad), bad);
        }

        Checkpoint withExtension = Checkpoint.Parse($"origin\n0\n{Convert.ToBase64String(Rfc6962.EmptyRoot)}\next one\n");
        Assert.AreEqual("ext one", withExtension.Extensions.Single());
    }

    [TestMethod]
    public void A_tlog_proof_reads_and_writes_back_byte_for_byte()
    {
        using NoteSigningKey log = NoteSigningKey.Generate("example.com/log", NoteSignatureType.Ed25519);
        var tree = new MerkleLog();
        for (int i = 0; i < 5; i++)
        {
            tree.Append(Rfc6962.LeafHash([(byte)i]));
        }

        SignedNote checkpoint = SignedNote.Sign(new Checkpoint("example.com/log", 5, tree.Root(5)).ToText(), log);
        var proof = new TlogProof(3, tree.InclusionProof(3, 5), checkpoint, [1, 2, 3]);
        string text = proof.ToString();
        StringAssert.StartsWith(text, "c2sp.org/tlog-proof@v1\nextra AQID\nindex 3\n");
        TlogProof read = TlogProof.Parse(text);
        Assert.AreEqual(text, read.ToString());
        Assert.AreEqual(3, read.Index);
        CollectionAssert.AreEqual(new byte[] { 1, 2, 3 }, read.Extra);
        Assert.IsTrue(Rfc6962.VerifyInclusion(3, 5, Rfc6962.LeafHash([3]), read.InclusionProof, Checkpoint.Parse(read.Checkpoint.Text).RootHash));

        string noExtra = new TlogProof(0, [], SignedNote.Sign(new Checkpoint("example.com/log", 1, tree.Root(1)).ToText(), log)).ToString();
        StringAssert.StartsWith(noExtra, "c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com/log\n1\n");
        Assert.ThrowsExactly<NoteFormatException>(() => TlogProof.Parse(noExtra.Replace("index 0", "index 00", StringComparison.Ordinal)));
        Assert.ThrowsExactly<NoteFormatException>(() => TlogProof.Parse(noExtra.Replace("tlog-proof@v1", "tlog-proof@v2", StringComparison.Ordinal)));
        Assert.ThrowsExactly<NoteFormatException>(() => TlogProof.Parse(text.Replace("index 3\n", "index 3\nnot base64\n", StringComparison.Ordinal)));
    }
}
