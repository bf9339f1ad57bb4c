namespace HsmVault.Client.Transparency;

/// <summary>The epoch's statement is not proven to be in the log the checkpoint commits to: the fleet is not in the log.</summary>
public sealed record BundleBadInclusionProof(long Epoch, string Detail) : BundleVerdict
{
    public override string Describe() => $"epoch {Epoch}: inclusion: {Detail}";
}
