using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Epochs;

/// <summary>
/// A read-only view of one namespace's log at one size: what the witness serves and what an
/// evidence folder holds. The witness implements it over its store; tests implement it to build
/// logs an honest witness would never sign.
/// </summary>
public interface ILogSnapshot
{
    string Namespace { get; }

    /// <summary>The number of entries.</summary>
    long Size { get; }

    WitnessLogEntry Entry(long index);

    /// <summary>The checkpoint signed when the log reached <paramref name="size"/> (1 to <see cref="Size"/>), with its cosignatures.</summary>
    SignedNote CheckpointAt(long size);

    IReadOnlyList<byte[]> InclusionProof(long index, long size);

    IReadOnlyList<byte[]> ConsistencyProof(long oldSize, long size);
}
