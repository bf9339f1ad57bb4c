namespace HsmVault.Host.Pipeline;

/// <summary>Whether the host is answering client requests.</summary>
public enum ServiceStatus
{
    /// <summary>The enclave state has not been checked against the store yet.</summary>
    Starting = 0,

    /// <summary>Store and enclave agree; requests are served.</summary>
    Serving = 1,

    /// <summary>The HSM cannot be reached (or its last answer was lost); the host keeps retrying.</summary>
    Unavailable = 2,

    /// <summary>Store and enclave disagree; the host refuses service until an operator intervenes.</summary>
    Refused = 3,
}
