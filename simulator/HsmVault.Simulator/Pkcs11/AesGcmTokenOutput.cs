namespace HsmVault.Simulator.Pkcs11;

/// <summary>What one token AES-GCM encryption returned: the output bytes and the CK_GCM_PARAMS IV buffer after the call.</summary>
internal readonly record struct AesGcmTokenOutput(byte[] Output, byte[] IvAfterCall);
