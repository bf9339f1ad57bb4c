namespace HsmVault.Client.Transparency;

/// <summary>The bundle's epoch is older than the newest this client has accepted (kept across runs): a replay of a retired fleet.</summary>
public sealed record BundleEpochRolledBack(long Epoch, long NewestSeen) : BundleVerdict
{
    public override string Describe() => $"epoch {Epoch}: rolled back: this client already accepted epoch {NewestSeen}";
}
