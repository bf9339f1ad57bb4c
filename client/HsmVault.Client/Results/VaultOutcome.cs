namespace HsmVault.Client;

/// <summary>
/// What a vault operation came to. Every expected outcome (wrong password, no record, fleet key
/// mismatch, vault unavailable, protocol error) is a subtype a caller can switch on; exceptions
/// are left for programming errors such as null arguments or a disposed client.
/// </summary>
public abstract record VaultOutcome
{
    /// <summary>A one-line, secret-free description for logs and command-line output.</summary>
    public abstract string Describe();
}
