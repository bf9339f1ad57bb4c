namespace HsmVault.Protocol.Merkle;

/// <summary>Why a Merkle proof or tree walk failed.</summary>
public enum MerkleProofError
{
    /// <summary>A field has the wrong length or the proof is deeper than a key has bits.</summary>
    Malformed = 1,

    /// <summary>A node needed for the walk is neither in the store nor in the proofs given: the proof is for another root.</summary>
    MissingNode = 2,

    /// <summary>A leaf sits where its key cannot lead, or a preimage does not match its hash: the proof is forged.</summary>
    Inconsistent = 3,
}
