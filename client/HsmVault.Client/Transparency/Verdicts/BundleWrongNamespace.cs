namespace HsmVault.Client.Transparency;

/// <summary>The bundle is for another namespace's log than the pinned one.</summary>
public sealed record BundleWrongNamespace(string Expected, string Actual) : BundleVerdict
{
    public override string Describe() => $"bundle is for namespace {Actual}, not the pinned {Expected}";
}
