namespace HsmVault.Client.Transparency;

/// <summary>The checkpoint the inclusion proof is against is not a checkpoint of the pinned namespace signed by the pinned witness.</summary>
public sealed record BundleCheckpointNotSignedByWitness(long Epoch, string Detail) : BundleVerdict
{
    public override string Describe() => $"epoch {Epoch}: checkpoint: {Detail}";
}
