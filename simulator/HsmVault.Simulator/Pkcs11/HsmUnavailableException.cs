namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// The HSM could not carry out an operation for a reason that is not the caller's input: a device
/// error, or a session that was lost and could not be reopened and logged in again. Distinct from a
/// record that "does not unseal": the enclave must fail closed on this (its catch-all answers
/// ENCLAVE_INTERNAL and commits nothing), never report it as tampering. The message names the
/// operation and the PKCS#11 return value and never carries a secret.
/// </summary>
public sealed class HsmUnavailableException : Exception
{
    public HsmUnavailableException(string message)
        : base(message)
    {
    }

    public HsmUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
