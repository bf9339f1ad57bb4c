namespace HsmVault.Client;

/// <summary>The slow steps of an operation, reported so a user interface can say what is happening.</summary>
public enum VaultProgress
{
    /// <summary>Opening the TCP (and TLS) connection to the vault host.</summary>
    Connecting,

    /// <summary>Running the key-stretching function over the password (Argon2id by default; the slow part).</summary>
    StretchingPassword,

    /// <summary>Waiting for the vault to answer a request.</summary>
    WaitingForVault,

    /// <summary>Checking the validation bundle of the fleet the host announces (over-the-air fleet keys).</summary>
    CheckingFleetBundle,

    /// <summary>A host could not be reached; connecting to the next of <see cref="VaultClientOptions.FailoverHosts"/>.</summary>
    FailingOver,
}
