namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// How provisioning protects the fleet keys it generates (the identity key pair is always
/// <see cref="NeverExtractable"/>). Either way every key is a sensitive token object whose value no
/// one can read.
/// </summary>
internal enum Pkcs11FleetKeyProtection
{
    /// <summary>CKA_EXTRACTABLE=false: the key can never leave this token, not even wrapped (a single HSM, or a fleet of one).</summary>
    NeverExtractable,

    /// <summary>
    /// CKA_EXTRACTABLE=true with CKA_WRAP_WITH_TRUSTED=true: the key leaves the token only wrapped under a key
    /// the token's security officer marked CKA_TRUSTED. What the deployment ceremony generates in the fleet's
    /// first HSM, so it can move the keys to the others (docs/DEPLOYMENT.md).
    /// </summary>
    WrapWithTrustedOnly,
}
