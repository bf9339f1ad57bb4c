namespace HsmVault.Client.Transparency;

/// <summary>The witness signature of (namespace, epoch, digest) does not verify under the pinned witness key.</summary>
public sealed record BundleBadWitnessSignature(long Epoch) : BundleVerdict
{
    public override string Describe() => $"epoch {Epoch}: witness signature: not valid under the pinned witness key";
}
