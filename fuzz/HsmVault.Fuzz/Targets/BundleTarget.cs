using System.Security.Cryptography;
using System.Text;
using HsmVault.Client.Transparency;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Merkle;
using HsmVault.Transparency.Notes;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// Validation bundles as a client receives them over the air, relayed by an untrusted host: the
/// input is the bundle's JSON text, read and checked by ValidationBundleVerifier against pins of a
/// seeded witness key and operator key. Every input must end in one of the verifier's typed
/// verdicts; a bundle that parses must also write back to JSON that parses to the same JSON.
/// </summary>
public sealed class BundleTarget : FuzzTarget
{
    private FuzzLog? _log;
    private TransparencyTrust? _trust;
    private FleetKeySet? _fleet;

    public override string Name => "bundle";

    public override string Feeds => "ValidationBundleVerifier.Verify of a bundle's JSON text (ValidationBundle.Parse, the witness entry, the tlog-proof and checkpoint, signatures, inclusion)";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["HsmVault.Transparency", "HsmVault.Client", "HsmVault.Protocol"];

    public override long AllocationLimitBytes => 4L << 20;

    public override void Prepare()
    {
        if (_log is not null)
        {
            return;
        }

        _log = new FuzzLog();
        _fleet = FuzzLog.Fleet("fleet-a", 1);
        _log.Append(1, _fleet);
        _log.Append(2, FuzzLog.Fleet("fleet-b", 2));
        _trust = _log.Trust();
    }

    public override string Run(ReadOnlySpan<byte> input)
    {
        string text = Encoding.UTF8.GetString(input);
        BundleVerdict verdict = new ValidationBundleVerifier(_trust!).Verify(text, _fleet!.ChannelPublicKey, null);
        if (verdict is not BundleMalformed)
        {
            string json = ValidationBundle.Parse(text).ToJson();
            if (ValidationBundle.Parse(json).ToJson() != json)
            {
                throw new FuzzFindingException("a bundle's JSON form does not read back to the same JSON");
            }
        }

        return verdict.GetType().Name;
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        Prepare();
        string good = _log!.Bundle(0).ToJson();
        yield return ("epoch-1", Encoding.UTF8.GetBytes(good));
        yield return ("epoch-2", Encoding.UTF8.GetBytes(_log.Bundle(1).ToJson()));
        yield return ("not-json", "{\"format\": "u8.ToArray());
        yield return ("other-format", Encoding.UTF8.GetBytes(good.Replace("hsmvault-validation-bundle/v1", "hsmvault-validation-bundle/v2", StringComparison.Ordinal)));
    }

    /// <summary>A witness log in memory with seeded keys, so seeds written in one process verify in another.</summary>
    private sealed class FuzzLog : ILogSnapshot
    {
        private const string WitnessName = "witness.fuzz.example";

        private readonly MerkleLog _tree = new();
        private readonly List<WitnessLogEntry> _entries = [];
        private readonly Dictionary<long, SignedNote> _checkpoints = [];
        private readonly NoteSigningKey _witness = NoteSigningKey.FromSeed(WitnessName, NoteSignatureType.Ed25519, SHA256.HashData("HsmVault fuzz witness"u8));
        private readonly ECDsa _operator = Key(0x40);

        public string Namespace => "fleet-fuzz";

        public long Size => _entries.Count;

        public static FleetKeySet Fleet(string id, byte salt)
        {
            using ECDsa channel = Key(salt);
            using ECDsa ake = Key((byte)(salt + 0x20));
            ECParameters c = channel.ExportParameters(false);
            ECParameters a = ake.ExportParameters(false);
            return FleetKeySet.Create(id, [0x04, .. c.Q.X!, .. c.Q.Y!], [(byte)(0x02 | (a.Q.Y![^1] & 1)), .. a.Q.X!]);
        }

        public TransparencyTrust Trust()
        {
            ECParameters p = _operator.ExportParameters(false);
            return new TransparencyTrust(Namespace, _witness.Verifier, OperatorKey.FromPublicKey([0x04, .. p.Q.X!, .. p.Q.Y!]));
        }

        public void Append(long epoch, FleetKeySet fleet)
        {
            var statement = new EpochStatement(Namespace, epoch, fleet.Digest);
            byte[] signature = _witness.Sign(statement.ToBytes());
            byte[] counter = _operator.SignData(OperatorKey.CounterSignatureMessage(signature), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            _entries.Add(new WitnessLogEntry(Size, statement, fleet, signature, counter));
            _tree.Append(statement.LeafHash());
            _checkpoints[Size] = SignedNote.Sign(new Checkpoint(FleetNamespace.Origin(WitnessName, Namespace), Size, _tree.Root(Size)).ToText(), _witness);
        }

        public ValidationBundle Bundle(long index) => LogEvidence.Bundle(this, index);

        public WitnessLogEntry Entry(long index) => _entries[(int)index];

        public SignedNote CheckpointAt(long size) => _checkpoints[size];

        public IReadOnlyList<byte[]> InclusionProof(long index, long size) => _tree.InclusionProof(index, size);

        public IReadOnlyList<byte[]> ConsistencyProof(long oldSize, long size) => _tree.ConsistencyProof(oldSize, size);

        // A P-256 key from a fixed scalar (salt, then 31 bytes of 0x11): the same in every process.
        private static ECDsa Key(byte salt) => ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = [salt, .. Enumerable.Repeat((byte)0x11, 31)] });
    }
}
