namespace HsmVault.Protocol.Merkle;

/// <summary>A Merkle proof is malformed, inconsistent, or does not reach the root it is checked against.</summary>
public sealed class MerkleProofException : Exception
{
    public MerkleProofException(MerkleProofError error, string message)
        : base(message)
    {
        Error = error;
    }

    /// <summary>What was wrong.</summary>
    public MerkleProofError Error { get; }
}
