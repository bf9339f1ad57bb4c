namespace HsmVault.Host.Bridge;

/// <summary>
/// The HSM could not be reached, timed out, or sent something that is not a bridge response.
/// Whether the request was applied is unknown, so the host re-checks the enclave state before
/// serving again.
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
