using System.Security.Cryptography;
using System.Text;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Merkle;
using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Tests;

/// <summary>
/// Every byte layout of the transparency part pinned in Golden/transparency.txt: the epoch
/// statement, the operator's two messages, the checkpoint, cosignature and tlog-proof text, the
/// witness entry. Ed25519 is deterministic, so signatures are pinned too; ECDSA is not, so the
/// counter-signature is pinned as its message only. A change here is a change of the protocol.
/// </summary>
[TestClass]
public sealed class GoldenEncodingTests
{
    private static string GoldenPath => Path.Combine(AppContext.BaseDirectory, "Golden", "transparency.txt");

    [TestMethod]
    public void Every_transparency_encoding_matches_the_golden_file()
    {
        Dictionary<string, string> expected = File.ReadAllLines(GoldenPath)
            .Where(line => line.Length > 0 && line[0] != '#')
            .Select(line => line.Split(": ", 2))
            .ToDictionary(parts => parts[0], parts => parts[1], StringComparer.Ordinal);
        List<(string Name, string Value)> actual = ComputeGoldenValues();
        CollectionAssert.AreEquivalent(expected.Keys.ToList(), actual.Select(a => a.Name).ToList(), "the same entries");
        foreach ((string name, string value) in actual)
        {
            Assert.AreEqual(expected[name], value, name);
        }
    }

    internal static List<(string Name, string Value)> ComputeGoldenValues()
    {
        using NoteSigningKey witness = NoteSigningKey.FromSeed("witness.hsmvault.local", NoteSignatureType.Ed25519, SHA256.HashData("hsmvault golden witness"u8));
        using NoteSigningKey cosigner = NoteSigningKey.FromSeed("cosigner.example", NoteSignatureType.Ed25519Cosignature, SHA256.HashData("hsmvault golden cosigner"u8));

        // The RFC 9180 A.3.1 recipient key as channel key, the P-256 generator as AKE key.
        byte[] channel = Convert.FromHexString("04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0");
        byte[] ake = Convert.FromHexString("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
        FleetKeySet first = FleetKeySet.Create("hsmvault-golden", channel, ake);
        FleetKeySet second = FleetKeySet.Create("hsmvault-golden-2", channel, ake);
        const string Namespace = "hsmvault-golden";
        string origin = FleetNamespace.Origin(witness.Name, Namespace);

        var statements = new[] { new EpochStatement(Namespace, 1, first.Digest), new EpochStatement(Namespace, 7, second.Digest) };
        var tree = new MerkleLog();
        foreach (EpochStatement statement in statements)
        {
            tree.Append(statement.LeafHash());
        }

        byte[] signature = witness.Sign(statements[0].ToBytes());
        SignedNote checkpoint = SignedNote.Sign(new Checkpoint(origin, 2, tree.Root(2)).ToText(), witness);
        NoteSignature cosignature = Cosignature.Sign(cosigner, 1_700_000_000, checkpoint.Text);
        SignedNote cosigned = checkpoint.WithSignatures([cosignature]);
        var entry = new WitnessLogEntry(0, statements[0], first, signature);
        return
        [
            ("witness_vkey", witness.Verifier.ToString()),
            ("cosigner_vkey", cosigner.Verifier.ToString()),
            ("fleet_keys_canonical", Encoding.UTF8.GetString(first.ToCanonicalJson())),
            ("fleet_keys_digest", Convert.ToHexStringLower(first.Digest)),
            ("epoch_statement(hsmvault-golden, 1)", Convert.ToHexStringLower(statements[0].ToBytes())),
            ("leaf_hash(epoch 1)", Convert.ToHexStringLower(statements[0].LeafHash())),
            ("witness_signature(epoch 1)", Convert.ToBase64String(signature)),
            ("counter_signature_message(epoch 1)", Convert.ToHexStringLower(OperatorKey.CounterSignatureMessage(signature))),
            ("append_request_message(epoch 1)", Convert.ToHexStringLower(OperatorKey.AppendRequestMessage(statements[0]))),
            ("checkpoint(size 2)", Escape(checkpoint.ToString())),
            ("cosignature_message(size 2, time 1700000000)", Escape(Encoding.UTF8.GetString(Cosignature.SignedMessage(1_700_000_000, checkpoint.TextBytes)))),
            ("cosigned_checkpoint(size 2)", Escape(cosigned.ToString())),
            ("tlog_proof(entry 0 of 2)", Escape(new TlogProof(0, tree.InclusionProof(0, 2), cosigned).ToString())),
            ("entry(0, no counter-signature)", Escape(entry.ToJson())),
        ];
    }

    private static string Escape(string text) => text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
