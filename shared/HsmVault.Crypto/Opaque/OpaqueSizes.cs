namespace HsmVault.Crypto.Opaque;

/// <summary>Byte lengths of the OPAQUE-3DH P256-SHA256 messages and keys, for callers that frame or store them.</summary>
public static class OpaqueSizes
{
    /// <summary>Nh, Nm, Nx: hash, MAC and KDF output length.</summary>
    public const int Hash = 32;

    /// <summary>Nn: nonce length.</summary>
    public const int Nonce = 32;

    /// <summary>Npk, Noe, Ne: a compressed P-256 element.</summary>
    public const int PublicKey = 33;

    /// <summary>Nsk, Nok, Nseed: a private scalar or a seed.</summary>
    public const int PrivateKey = 32;

    /// <summary>Envelope: nonce || auth_tag.</summary>
    public const int Envelope = Nonce + Hash;

    public const int RegistrationRequest = PublicKey;

    public const int RegistrationResponse = PublicKey + PublicKey;

    public const int RegistrationRecord = PublicKey + Hash + Envelope;

    /// <summary>KE1: blinded_message || client_nonce || client_public_keyshare.</summary>
    public const int KE1 = PublicKey + Nonce + PublicKey;

    /// <summary>Masked response: xor-masked server_public_key || envelope.</summary>
    public const int MaskedResponse = PublicKey + Envelope;

    /// <summary>Credential response: evaluated_message || masking_nonce || masked_response.</summary>
    public const int CredentialResponse = PublicKey + Nonce + MaskedResponse;

    /// <summary>KE2: credential_response || server_nonce || server_public_keyshare || server_mac.</summary>
    public const int KE2 = CredentialResponse + Nonce + PublicKey + Hash;

    /// <summary>KE3: client_mac.</summary>
    public const int KE3 = Hash;

    public const int SessionKey = Hash;

    public const int ExportKey = Hash;
}
