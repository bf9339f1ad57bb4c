using HsmVault.Protocol.Fleet;

namespace HsmVault.Client.Transparency.Audit;

/// <summary>One entry of the audited window: its epoch, its fleet-key file and whether every check of it passed.</summary>
public sealed record AuditedEpoch(long Index, long Epoch, FleetKeySet FleetKeys, byte[] FleetKeysDigest, bool Passed);
