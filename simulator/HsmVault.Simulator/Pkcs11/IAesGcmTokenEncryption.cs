namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// One AES-GCM encryption by the token (C_EncryptInit + C_Encrypt with the key the token derived for this one seal): the IV buffer
/// handed over in CK_GCM_PARAMS, the associated data and the plaintext in; the raw output and the IV
/// buffer's content after the call out. Kept this narrow so <see cref="AesGcmIvStrategy"/> can be
/// tested against any token behaviour.
/// </summary>
internal interface IAesGcmTokenEncryption
{
    AesGcmTokenOutput Encrypt(byte[] iv, byte[]? associatedData, byte[] plaintext);
}
