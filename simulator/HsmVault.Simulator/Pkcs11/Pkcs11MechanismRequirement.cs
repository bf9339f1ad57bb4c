using Net.Pkcs11Interop.Common;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// One mechanism the services need: the functions they use it for, the key size (in the unit the
/// mechanism's CK_MECHANISM_INFO uses: bytes for AES and generic secrets, bits for EC) and why.
/// </summary>
internal sealed record Pkcs11MechanismRequirement(CKM Mechanism, Pkcs11MechanismUse Uses, ulong KeySize, string Purpose);
