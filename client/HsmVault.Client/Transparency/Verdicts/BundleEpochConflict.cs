namespace HsmVault.Client.Transparency;

/// <summary>The bundle's epoch is the newest this client accepted, but for another fleet-key file: the witness said two things of one epoch.</summary>
public sealed record BundleEpochConflict(long Epoch) : BundleVerdict
{
    public override string Describe() => $"epoch {Epoch}: conflict: this client accepted another fleet-key file for the same epoch";
}
