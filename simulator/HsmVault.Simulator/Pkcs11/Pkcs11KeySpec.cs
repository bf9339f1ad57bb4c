namespace HsmVault.Simulator.Pkcs11;

/// <summary>One key of the vault's key set: its CKA_LABEL and its kind.</summary>
internal sealed record Pkcs11KeySpec(string Label, Pkcs11KeyKind Kind);
