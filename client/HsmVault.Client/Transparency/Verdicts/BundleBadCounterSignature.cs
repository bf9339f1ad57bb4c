namespace HsmVault.Client.Transparency;

/// <summary>The operator's counter-signature of the witness signature is missing (<paramref name="Missing"/>) or does not verify under the pinned operator key.</summary>
public sealed record BundleBadCounterSignature(long Epoch, bool Missing) : BundleVerdict
{
    public override string Describe() => Missing
        ? $"epoch {Epoch}: counter-signature: missing"
        : $"epoch {Epoch}: counter-signature: not valid under the pinned operator key";
}
