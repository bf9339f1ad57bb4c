namespace HsmVault.Client.Transparency;

/// <summary>The bundle is not a bundle: bad JSON, a missing or unknown member, a bad fleet-key file or tlog-proof.</summary>
public sealed record BundleMalformed(string Detail) : BundleVerdict
{
    public override string Describe() => $"bundle malformed: {Detail}";
}
