using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using HsmVault.Fuzz.Support;
using HsmVault.Protocol.Merkle;
using HsmVault.Protocol.V1;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// Merkle proofs as the enclave uses them: one or two proofs from the host are added to an empty
/// scratch store, then the keys are looked up, set and removed from the trusted root. The oracle is
/// a real tree of 40 records: whatever a proof says, a lookup must give the real value (or refuse
/// with a MerkleProofException), and an update must lead to the root the real tree gets from the
/// same update. Input: a proof count byte, then per proof a key selector byte (below 0x80: one of
/// 40 present and 8 absent keys; else 32 key bytes follow) and the MerkleProof (2-byte length).
/// </summary>
public sealed class MerkleTarget : FuzzTarget
{
    private const int Present = 40;
    private const int Absent = 8;

    private readonly InMemoryMerkleNodeStore _realNodes = new();
    private SparseMerkleTree? _real;
    private byte[][] _keys = [];

    public override string Name => "merkle";

    public override long AllocationLimitBytes => 4L << 20;

    public override string Feeds => "SparseMerkleTree.AddProof, Find, Set and Remove over a scratch store from forged proofs, checked against a real tree";

    public override void Prepare()
    {
        _real = new SparseMerkleTree(_realNodes);
        _keys = [.. Enumerable.Range(0, Present + Absent).Select(i => SHA256.HashData(Encoding.UTF8.GetBytes($"user-{i}")))];
        for (int i = 0; i < Present; i++)
        {
            _real.Set(_keys[i], SHA256.HashData(Encoding.UTF8.GetBytes($"value-{i}")));
        }
    }

    public override string Run(ReadOnlySpan<byte> input)
    {
        var fields = new FuzzInput(input);
        int count = 1 + (fields.Byte() & 1);
        var scratch = new InMemoryMerkleNodeStore();
        var keys = new List<byte[]>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                byte selector = fields.Byte();
                byte[] key = selector < 0x80 ? _keys[selector % _keys.Length] : Pad(fields.Take(32));
                MerkleProof proof;
                try
                {
                    proof = MerkleProof.Parser.ParseFrom(fields.Long());
                }
                catch (InvalidProtocolBufferException)
                {
                    return "proof:unparsable";
                }

                SparseMerkleTree.AddProof(scratch, key, proof);
                keys.Add(key);
            }
        }
        catch (MerkleProofException ex)
        {
            return $"add:{ex.Error}";
        }

        var tree = new SparseMerkleTree(scratch, _real!.Root);
        string label = "";
        foreach (byte[] key in keys)
        {
            label = Check(() => Compare(tree.Find(key), _real.Find(key), "Find"), "find");
        }

        // The enclave updates the scratch tree as a batch goes: a set, then a removal, must reach the real roots.
        var realAfter = new SparseMerkleTree(new OverlayStore(_realNodes), _real.Root);
        byte[] newValue = SHA256.HashData("a new value"u8);
        label += "/" + Check(() =>
        {
            tree.Set(keys[0], newValue);
            realAfter.Set(keys[0], newValue);
            Compare(tree.Root, realAfter.Root, "the root after Set");
        }, "set");
        if (keys.Count > 1)
        {
            label += "/" + Check(() =>
            {
                bool removed = tree.Remove(keys[1]);
                bool really = realAfter.Remove(keys[1]);
                if (removed != really)
                {
                    throw new FuzzFindingException($"Remove over the proofs said {removed}, the real tree {really}");
                }

                // A proof without the deepest sibling's preimage makes Remove refuse (MissingNode, finding F1's
                // fix); whatever it does not refuse must reach the real root exactly.
                Compare(tree.Root, realAfter.Root, "the root after Remove");
            }, "remove");
        }

        return label;
    }

    private static string Check(Action step, string what)
    {
        try
        {
            step();
            return $"{what}:ok";
        }
        catch (MerkleProofException ex)
        {
            return $"{what}:{ex.Error}";
        }
    }

    private static void Compare(byte[]? got, byte[]? real, string what)
    {
        if (!(got is null ? real is null : real is not null && got.AsSpan().SequenceEqual(real)))
        {
            throw new FuzzFindingException($"{what} over forged proofs gave {Hex(got)}, the real tree {Hex(real)}");
        }
    }

    private static string Hex(byte[]? value) => value is null ? "nothing" : Convert.ToHexString(value)[..16];

    private static byte[] Pad(ReadOnlySpan<byte> bytes)
    {
        byte[] key = new byte[32];
        bytes.CopyTo(key);
        return key;
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        Prepare();
        byte[] Proof(int i) => _real!.Prove(_keys[i]).ToByteArray();
        yield return ("present", new FuzzInputWriter().Byte(0).Byte(3).Long(Proof(3)).ToArray());
        yield return ("absent", new FuzzInputWriter().Byte(0).Byte(Present + 2).Long(Proof(Present + 2)).ToArray());
        yield return ("two-present", new FuzzInputWriter().Byte(1).Byte(5).Long(Proof(5)).Byte(6).Long(Proof(6)).ToArray());
        yield return ("present-and-absent", new FuzzInputWriter().Byte(1).Byte(Present + 1).Long(Proof(Present + 1)).Byte(9).Long(Proof(9)).ToArray());
        yield return ("wrong-key", new FuzzInputWriter().Byte(0).Byte(7).Long(Proof(8)).ToArray());
        yield return ("raw-key", new FuzzInputWriter().Byte(0).Byte(0xFF).Raw(_keys[11]).Long(Proof(11)).ToArray());
        yield return ("empty-proof", new FuzzInputWriter().Byte(0).Byte(1).Long([]).ToArray());
    }

    private sealed class OverlayStore(IMerkleNodeStore under) : IMerkleNodeStore
    {
        private readonly InMemoryMerkleNodeStore _added = new();

        public bool TryGet(ReadOnlySpan<byte> hash, out MerkleNode node) => _added.TryGet(hash, out node) || under.TryGet(hash, out node);

        public void Put(byte[] hash, MerkleNode node) => _added.Put(hash, node);
    }
}
