namespace HsmVault.Client.Transparency;

/// <summary>The channel key the client talks to is not the one in the bundle's fleet-key file.</summary>
public sealed record BundleChannelKeyMismatch(long Epoch) : BundleVerdict
{
    public override string Describe() => $"epoch {Epoch}: channel key: the endpoint's channel key is not the one in the fleet-key file";
}
