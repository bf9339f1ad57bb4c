namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// Where the 96-bit AES-GCM IV of <see cref="Pkcs11HsmServices.Seal"/> (N[12:24] of the XAES-256-GCM nonce,
/// used under the key derived for this seal from N[0:12]) comes from. Tokens differ: some take the caller's
/// IV, some (FIPS-mode policies) insist on generating it and either write it into the CK_GCM_PARAMS IV
/// buffer or append it to the output. The sealed format is the same for all three: version (1) || N[0:12]
/// || IV (12) || ciphertext || tag (16). Decryption always derives the key again and passes the stored IV.
/// </summary>
public enum Pkcs11GcmIvMode
{
    /// <summary>The services draw the IV from the token's RNG and pass it in CK_GCM_PARAMS (SoftHSM2 and most tokens).</summary>
    CallerSupplied,

    /// <summary>The services pass a zeroed 12-byte IV buffer; the token writes the IV it used into it.</summary>
    TokenWritesParameter,

    /// <summary>The services pass a zeroed 12-byte IV buffer; the token returns ciphertext || tag || IV.</summary>
    TokenAppendsToOutput,
}
