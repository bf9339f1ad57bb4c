namespace HsmVault.Client.Transparency;

/// <summary>The fleet-key file in the bundle does not hash to the digest the witness signed: the file was altered or swapped.</summary>
public sealed record BundleDigestMismatch(long Epoch) : BundleVerdict
{
    public override string Describe() => $"epoch {Epoch}: digest: the fleet-key file does not hash to the logged digest";
}
