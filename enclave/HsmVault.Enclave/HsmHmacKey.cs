namespace HsmVault.Enclave;

/// <summary>The HMAC-SHA-256 keys an HSM holds, by role. Each is a 256-bit generic secret that never leaves the HSM.</summary>
public enum HsmHmacKey
{
    /// <summary>The fleet OPRF seed: HKDF-Expand of it by HMAC derives each user's OPRF key.</summary>
    OprfSeed = 1,

    /// <summary>MACs the log entries and the Merkle root state the enclave hands to the host.</summary>
    LogMac = 2,

    /// <summary>Derives the fake records that make unknown users indistinguishable from registered ones.</summary>
    FakeRecordSeed = 3,
}
