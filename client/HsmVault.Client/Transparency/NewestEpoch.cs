namespace HsmVault.Client.Transparency;

/// <summary>The newest epoch accepted for a namespace, and the largest checkpoint seen with it.</summary>
/// <param name="Epoch">The epoch number.</param>
/// <param name="FleetKeysDigest">The digest of its fleet-key file.</param>
/// <param name="CheckpointSize">The size of the checkpoint it was proven against.</param>
/// <param name="CheckpointRoot">That checkpoint's root hash.</param>
public sealed record NewestEpoch(long Epoch, byte[] FleetKeysDigest, long CheckpointSize, byte[] CheckpointRoot);
