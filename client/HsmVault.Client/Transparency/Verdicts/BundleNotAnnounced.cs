namespace HsmVault.Client.Transparency;

/// <summary>The client trusts no fleet yet and the host announced none (no bundle, or an answer that is not an announcement).</summary>
public sealed record BundleNotAnnounced(string Detail) : BundleVerdict
{
    public override string Describe() => $"no validation bundle announced: {Detail}";
}
