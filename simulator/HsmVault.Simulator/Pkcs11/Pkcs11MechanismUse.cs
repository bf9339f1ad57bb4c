namespace HsmVault.Simulator.Pkcs11;

/// <summary>The functions (CKF_ flags of C_GetMechanismInfo) a mechanism is used for.</summary>
[Flags]
internal enum Pkcs11MechanismUse
{
    None = 0,
    Encrypt = 1,
    Decrypt = 2,
    Sign = 4,
    Generate = 8,
    GenerateKeyPair = 16,
    Derive = 32,
    Wrap = 64,
    Unwrap = 128,
}
