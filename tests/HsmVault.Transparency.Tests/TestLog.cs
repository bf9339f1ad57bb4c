using System.Security.Cryptography;
using HsmVault.Client.Transparency;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Merkle;
using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Tests;

/// <summary>
/// A namespace's log built in memory with software keys, able to write what an honest witness
/// would refuse (an epoch that goes back, an entry left without counter-signature, a fork): the
/// bad evidence that bundle and audit tests need. The keys stand in for the witness, the
/// operator's HSM key and further witnesses.
/// </summary>
internal sealed class TestLog : ILogSnapshot, IDisposable
{
    public const string WitnessName = "witness.test.example";

    private readonly MerkleLog _tree = new();
    private readonly List<WitnessLogEntry> _entries = [];
    private readonly Dictionary<long, SignedNote> _checkpoints = [];

    public TestLog(string @namespace = "fleet-test", int cosigners = 0)
    {
        Namespace = @namespace;
        Witness = NoteSigningKey.Generate(WitnessName, NoteSignatureType.Ed25519);
        Operator = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        ECParameters p = Operator.ExportParameters(false);
        OperatorPublicKey = OperatorKey.FromPublicKey([0x04, .. p.Q.X!, .. p.Q.Y!]);
        Cosigners = [.. Enumerable.Range(1, cosigners).Select(i => NoteSigningKey.Generate($"cosigner{i}.test.example", NoteSignatureType.Ed25519Cosignature))];
    }

    public string Namespace { get; }

    public NoteSigningKey Witness { get; }

    public ECDsa Operator { get; }

    public OperatorKey OperatorPublicKey { get; }

    public IReadOnlyList<NoteSigningKey> Cosigners { get; }

    public long Size => _entries.Count;

    public string Origin => FleetNamespace.Origin(WitnessName, Namespace);

    /// <summary>A fleet-key file with fresh P-256 keys.</summary>
    public static FleetKeySet NewFleet(string fleetId)
    {
        using var channel = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        using var ake = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        ECParameters c = channel.ExportParameters(false);
        ECParameters a = ake.ExportParameters(false);
        return FleetKeySet.Create(fleetId, [0x04, .. c.Q.X!, .. c.Q.Y!], [(byte)(0x02 | (a.Q.Y![^1] & 1)), .. a.Q.X!]);
    }

    public TransparencyTrust Trust(int quorum = 0) =>
        new(Namespace, Witness.Verifier, OperatorPublicKey, [.. Cosigners.Select(c => c.Verifier)], quorum);

    public byte[] CounterSign(ReadOnlySpan<byte> witnessSignature) =>
        Operator.SignData(OperatorKey.CounterSignatureMessage(witnessSignature), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    /// <summary>Appends whatever it is given (no epoch check) and signs the new checkpoint; cosigners cosign it.</summary>
    public WitnessLogEntry Append(long epoch, FleetKeySet fleetKeys, bool counterSign = true, string? @namespace = null)
    {
        var statement = new EpochStatement(@namespace ?? Namespace, epoch, fleetKeys.Digest);
        byte[] signature = Witness.Sign(statement.ToBytes());
        var entry = new WitnessLogEntry(Size, statement, fleetKeys, signature, counterSign ? CounterSign(signature) : null);
        _tree.Append(statement.LeafHash());
        _entries.Add(entry);
        SignedNote note = SignedNote.Sign(new Checkpoint(Origin, Size, _tree.Root(Size)).ToText(), Witness);
        _checkpoints[Size] = note.WithSignatures(Cosigners.Select(c => Cosignature.Sign(c, 1_700_000_000, note.Text)));
        return entry;
    }

    /// <summary>A statement the witness signs and the operator counter-signs without it ever entering the log.</summary>
    public WitnessLogEntry SignOutsideTheLog(long epoch, FleetKeySet fleetKeys, long claimedIndex)
    {
        var statement = new EpochStatement(Namespace, epoch, fleetKeys.Digest);
        byte[] signature = Witness.Sign(statement.ToBytes());
        return new WitnessLogEntry(claimedIndex, statement, fleetKeys, signature, CounterSign(signature));
    }

    /// <summary>Replaces the stored entry (what a tampered evidence file would say).</summary>
    public void ReplaceEntry(WitnessLogEntry entry) => _entries[(int)entry.Index] = entry;

    /// <summary>Replaces the checkpoint of a size (a fork shown to one party).</summary>
    public void ReplaceCheckpoint(long size, SignedNote note) => _checkpoints[size] = note;

    public WitnessLogEntry Entry(long index) => _entries[(int)index];

    public SignedNote CheckpointAt(long size) => _checkpoints[size];

    public IReadOnlyList<byte[]> InclusionProof(long index, long size) => _tree.InclusionProof(index, size);

    public IReadOnlyList<byte[]> ConsistencyProof(long oldSize, long size) => _tree.ConsistencyProof(oldSize, size);

    public ValidationBundle Bundle(long index) => LogEvidence.Bundle(this, index);

    public void Dispose()
    {
        Witness.Dispose();
        Operator.Dispose();
        foreach (NoteSigningKey cosigner in Cosigners)
        {
            cosigner.Dispose();
        }
    }
}
