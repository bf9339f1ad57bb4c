namespace HsmVault.Simulator.Pkcs11;

/// <summary>The kinds of key the vault keeps on a token; each fixes the object class, key type, generation mechanism and allowed uses.</summary>
internal enum Pkcs11KeyKind
{
    /// <summary>AES-256 secret key that only encrypts and decrypts (CKM_AES_KEY_GEN).</summary>
    AesKey,

    /// <summary>32-byte generic secret that only signs and verifies HMACs (CKM_GENERIC_SECRET_KEY_GEN).</summary>
    HmacKey,

    /// <summary>P-256 key pair that only signs (CKM_EC_KEY_PAIR_GEN).</summary>
    SigningKeyPair,

    /// <summary>P-256 key pair that only derives (ECDH1, CKM_EC_KEY_PAIR_GEN).</summary>
    DerivationKeyPair,
}
