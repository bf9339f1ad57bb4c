namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// One key of the vault's key set: its CKA_LABEL, its kind, and whether it is a fleet key (the same
/// in every member of a fleet, so a deployment ceremony may move it between HSMs by key wrap under a
/// trusted key) or the HSM's own (its identity key pair, which never leaves it).
/// </summary>
internal sealed record Pkcs11KeySpec(string Label, Pkcs11KeyKind Kind, bool SharedByFleet = true);
