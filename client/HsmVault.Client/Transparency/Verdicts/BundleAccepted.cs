using HsmVault.Protocol.Fleet;

namespace HsmVault.Client.Transparency;

/// <summary>Every check passed: <paramref name="FleetKeys"/> is the fleet of <paramref name="Epoch"/>, logged by the witness at entry <paramref name="Index"/> of a checkpoint of <paramref name="CheckpointSize"/> entries.</summary>
public sealed record BundleAccepted(FleetKeySet FleetKeys, long Epoch, long Index, long CheckpointSize, IReadOnlyList<string> Cosigners) : BundleVerdict
{
    public override string Describe() =>
        $"accepted fleet {FleetKeys.FleetId} at epoch {Epoch} (entry {Index} of {CheckpointSize}{(Cosigners.Count > 0 ? $", cosigned by {string.Join(", ", Cosigners)}" : string.Empty)})";
}
