namespace HsmVault.Client.Transparency;

/// <summary>Fewer than the required number of pinned cosigners validly cosigned the checkpoint (or one of them signed it wrongly).</summary>
public sealed record BundleCosignaturesInsufficient(long Epoch, int Required, IReadOnlyList<string> Valid, string Detail) : BundleVerdict
{
    public override string Describe() => $"epoch {Epoch}: cosignatures: {Valid.Count} valid of the {Required} required ({Detail})";
}
